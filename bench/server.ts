/**
 * pushframe under test: startServer from the package with limits opened up for one
 * client machine (every stream comes from 127.0.0.1) and the housekeeping that would
 * add traffic of its own switched off (heartbeats, $sys/stats, recycling); the idle
 * scenario sets the heartbeat through PUSHFRAME_BENCH_HEARTBEAT_MS.
 */
import { startServer } from '../src';
import { serveControl, type BenchData } from './control';

async function main(): Promise<void> {
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    demo: false,
    logLevel: 'warn',
    statsIntervalMs: 0,
    // Heartbeats off (5 min) unless the idle scenario asks for an interval.
    heartbeatMs: Number(process.env.PUSHFRAME_BENCH_HEARTBEAT_MS) || 300_000,
    maxStreamBytes: 1 << 30,
    maxConnections: 1_000_000,
    maxConnectionsPerIp: 1_000_000,
  });
  const hub = server.hub;
  const onError = (err: Error): void => {
    process.send?.({ op: 'error', message: `publish failed: ${err.message}` });
  };
  serveControl({
    port: server.port,
    streamPath: server.config.prefix + '/stream?channels=',
    publish: (channel: string, data: BenchData) => {
      hub.publish(channel, data).catch(onError);
    },
    close: () => server.close(),
  });
}

main().catch((err: Error) => {
  process.send?.({ op: 'error', message: err.stack ?? err.message });
  process.exit(1);
});
