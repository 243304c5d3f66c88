/**
 * A cluster worker's entry point (the primary forks this file, see primary.ts): waits for
 * its settings, runs one pushframe server on the shared port, and shuts down gracefully
 * when the primary asks, on SIGTERM/SIGINT, or when the primary is gone.
 */
import { IpcBroker, channelPort } from '../brokers/ipc';
import { createLogger } from '../log';
import { startServer, type PushframeServer } from '../server';
import { CLUSTER_TAG, isClusterMessage, type ToPrimary, type ToWorker, type WorkerStart } from './messages';

const port = channelPort(process);
let server: PushframeServer | null = null;
let stopping = false;

function tell(message: ToPrimary, then?: () => void): void {
  if (!process.send || !process.connected) {
    then?.();
    return;
  }
  process.send(message, () => then?.());
}

async function start(settings: WorkerStart): Promise<void> {
  const { config, index, nodeId, ipcBroker } = settings;
  const logger = createLogger(config.logLevel).child({ worker: index, pid: process.pid });
  try {
    server = await startServer({
      ...config,
      workers: '1',
      nodeId,
      logger,
      brokerInstance: ipcBroker ? new IpcBroker(port) : undefined,
    });
  } catch (err) {
    tell({ tag: CLUSTER_TAG, failed: (err as Error)?.message ?? String(err) }, () => process.exit(1));
    return;
  }
  if (stopping) {
    stop();
    return;
  }
  logger.debug({ node: nodeId }, 'worker serving');
  tell({ tag: CLUSTER_TAG, listening: { url: server.url, port: server.port } });
}

/** The same drain as a single process: streams get their reconnect instruction with jitter. */
function stop(): void {
  const first = !stopping;
  stopping = true;
  if (!server) {
    if (first) setTimeout(() => process.exit(0), 0);
    return;
  }
  const running = server;
  server = null;
  running.shutdown().then(
    () => process.exit(0),
    () => process.exit(1),
  );
}

port.onMessage((raw) => {
  if (!isClusterMessage(raw)) return;
  const msg = raw as ToWorker;
  if ('start' in msg) void start(msg.start);
  else if ('shutdown' in msg) stop();
});
port.onClose(() => stop());
process.on('SIGTERM', () => stop());
process.on('SIGINT', () => stop());
tell({ tag: CLUSTER_TAG, ready: true });
