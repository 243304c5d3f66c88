import cluster, { type Worker } from 'node:cluster';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { MemoryBroker, type Broker } from '../brokers';
import { IpcBrokerHost, channelPort } from '../brokers/ipc';
import { ConfigError, resolveConfig, type Config } from '../config';
import { createLogger, type Logger } from '../log';
import { CLUSTER_TAG, isClusterMessage, type ToPrimary, type ToWorker } from './messages';
import { clusterMetricsText, type MetricJson, type WorkerMetrics } from './metrics';
import { Requests } from './requests';

/** A worker that dies is replaced after this, doubling with each death in the last minute… */
const RESTART_MIN_MS = 100;
/** …up to this. */
const RESTART_MAX_MS = 5_000;
/** Deaths of one slot within a minute after which the cluster gives up: something is broken, not unlucky. */
const MAX_CRASHES_PER_MINUTE = 10;
/** Workers get their own shutdown deadline plus this before the primary kills them. */
const SHUTDOWN_MARGIN_MS = 2_000;
/** How long a scrape waits for each worker's figures; one that does not answer is left out (and counted). */
const METRICS_WAIT_MS = 2_000;

/** A worker could not start (its broker unreachable, the port taken): the cluster does not start either. */
export class WorkerStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerStartError';
  }
}

export interface ClusterOptions extends Partial<Config> {
  logger?: Logger;
}

/** A running cluster: one server process per worker behind one port. */
export interface PushframeCluster {
  readonly config: Config;
  readonly log: Logger;
  /** `http://host:port` as bound (port 0 resolved). */
  readonly url: string;
  readonly port: number;
  /** How many workers it keeps running. */
  readonly size: number;
  /** Process ids of the live workers, by slot (0 while a slot waits for its replacement). */
  pids(): number[];
  /** Resolves with the reason if the cluster gives up (a worker dying over and over); it is then shutting down. */
  readonly failed: Promise<Error>;
  /** Graceful: every worker drains (streams are told to reconnect with jitter); resolves when all have exited. */
  shutdown(): Promise<void>;
}

/** `auto` is one worker per core the process may use. */
export function workerCount(workers: string): number {
  return workers === 'auto' ? availableParallelism() : Number(workers);
}

interface Slot {
  index: number;
  worker: Worker | null;
  nodeId: string;
  /** When this slot's workers died, for the backoff (last minute only). */
  deaths: number[];
  restart: NodeJS.Timeout | null;
}

/** A node id from the host name: the characters a node id allows. */
function baseNodeId(config: Config): string {
  if (config.nodeId) return config.nodeId;
  const host = hostname().replace(/[^A-Za-z0-9_.:-]/g, '-').slice(0, 80) || 'node';
  return config.port === 0 ? host : `${host}:${config.port}`;
}

/**
 * Runs `workers` pushframe servers (node:cluster) on one port. With the memory broker the
 * primary holds the one broker (ids, history, epoch) and every worker reaches it over IPC,
 * so any worker serves any client and a cursor from one worker resumes on another; with
 * Redis every worker uses Redis itself. A worker that dies is replaced (with a backoff);
 * shutdown drains every worker.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<PushframeCluster> {
  if (!cluster.isPrimary) throw new ConfigError('startCluster runs in the primary process only');
  const { logger, ...rest } = options;
  const config = resolveConfig(rest);
  const log = logger ?? createLogger(config.logLevel);
  const size = workerCount(config.workers);
  const exec = join(__dirname, 'worker.js');
  if (!existsSync(exec)) throw new ConfigError(`the cluster worker ${exec} is missing: run the built package (npm run build)`);
  cluster.setupPrimary({ exec, args: [] });

  const ipc = config.broker === 'memory';
  const broker: Broker | null = ipc ? new MemoryBroker({ maxCount: config.historySize, maxAgeMs: config.historyTtlMs }) : null;
  const host = broker ? new IpcBrokerHost(broker) : null;
  const base = baseNodeId(config);
  // Port 0 is resolved once, here: workers asking for port 0 share a listener only while
  // one of them lives, so replacements started after all had died would get a new port.
  const workerConfig = config.port === 0 ? { ...config, port: await freePort(config.host) } : config;
  const slots: Slot[] = Array.from({ length: size }, (_, index) => ({ index, worker: null, nodeId: `${base}-w${index}`, deaths: [], restart: null }));

  let started = false;
  let stopping: Promise<void> | null = null;
  let address: { url: string; port: number } | null = null;
  let reportFailure: (err: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (reportFailure = resolve));
  let startFailed: (err: Error) => void = () => {};
  let listening = 0;
  let allListening: () => void = () => {};
  const up = new Promise<void>((resolve, reject) => {
    allListening = resolve;
    startFailed = reject;
  });
  const exits = new Set<Promise<void>>();
  const collections = new Requests<MetricJson[] | null>();

  /** One worker's series, or null if it has none to give within METRICS_WAIT_MS. */
  const metricsOf = async (slot: Slot, worker: Worker): Promise<WorkerMetrics | null> => {
    const json = await collections.ask((id) => send(worker, { tag: CLUSTER_TAG, collectMetrics: id }), METRICS_WAIT_MS);
    return json ? { node: slot.nodeId, metrics: json } : null;
  };

  /** `GET /metrics` reached a worker: every live worker's series, labelled by node. */
  const gatherMetrics = async (): Promise<string> => {
    const live = slots.filter((s) => s.worker?.isConnected());
    const answers = await Promise.all(live.map((s) => metricsOf(s, s.worker as Worker)));
    const answered = answers.filter((a): a is WorkerMetrics => a !== null);
    if (answered.length < live.length) log.warn({ running: live.length, answered: answered.length }, 'some workers gave no metrics in time');
    return clusterMetricsText(answered, live.length);
  };

  const fork = (slot: Slot): void => {
    slot.restart = null;
    const worker = cluster.fork();
    slot.worker = worker;
    let failure = '';
    if (host) host.attach(channelPort(worker.process));
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', (code: number | null, signal: string | null) => {
        exits.delete(exited);
        resolve();
        if (slot.worker === worker) slot.worker = null;
        died(slot, failure || (signal ? `killed by ${signal}` : `exit code ${code}`));
      });
    });
    exits.add(exited);
    worker.on('message', (raw: unknown) => {
      if (!isClusterMessage(raw)) return;
      const msg = raw as ToPrimary;
      if ('ready' in msg) {
        send(worker, { tag: CLUSTER_TAG, start: { config: workerConfig, index: slot.index, nodeId: slot.nodeId, ipcBroker: ipc } });
      } else if ('listening' in msg) {
        address ??= msg.listening;
        log.info({ worker: slot.index, pid: worker.process.pid, node: slot.nodeId }, `worker ${slot.index} listening`);
        if (!started && ++listening === size) allListening();
      } else if ('failed' in msg) {
        failure = msg.failed;
      } else if ('metricsWanted' in msg) {
        const id = msg.metricsWanted;
        gatherMetrics().then(
          (text) => send(worker, { tag: CLUSTER_TAG, metricsText: { id, text } }),
          (err: Error) => send(worker, { tag: CLUSTER_TAG, metricsText: { id, error: err.message } }),
        );
      } else if ('metrics' in msg) {
        collections.settle(msg.metrics.id, msg.metrics.json);
      }
    });
  };

  const died = (slot: Slot, why: string): void => {
    if (stopping) return;
    if (!started) {
      startFailed(new WorkerStartError(`worker ${slot.index} could not start: ${why}`));
      return;
    }
    const now = Date.now();
    slot.deaths = slot.deaths.filter((t) => now - t < 60_000);
    slot.deaths.push(now);
    if (slot.deaths.length > MAX_CRASHES_PER_MINUTE) {
      const err = new Error(`worker ${slot.index} died ${slot.deaths.length} times within a minute (last: ${why}); giving up`);
      log.error({ worker: slot.index }, err.message);
      reportFailure(err);
      void shutdown();
      return;
    }
    const delay = Math.min(RESTART_MIN_MS * 2 ** (slot.deaths.length - 1), RESTART_MAX_MS);
    log.warn({ worker: slot.index, why, restartInMs: delay }, `worker ${slot.index} exited (${why}); replacing it`);
    slot.restart = setTimeout(() => fork(slot), delay);
  };

  const shutdown = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const slot of slots) {
        if (slot.restart) clearTimeout(slot.restart);
        slot.restart = null;
        if (slot.worker) send(slot.worker, { tag: CLUSTER_TAG, shutdown: true });
      }
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS)));
      const done = await Promise.race([Promise.all([...exits]).then(() => true), deadline]);
      clearTimeout(timer);
      if (!done) {
        log.warn('workers still running after the shutdown deadline: killing them');
        for (const slot of slots) slot.worker?.process.kill('SIGKILL');
        await Promise.all([...exits]);
      }
      await broker?.close();
    })());

  for (const slot of slots) fork(slot);
  try {
    await up;
  } catch (err) {
    await shutdown();
    throw err;
  }
  started = true;
  const bound = address as unknown as { url: string; port: number };
  return {
    config,
    log,
    url: bound.url,
    port: bound.port,
    size,
    pids: () => slots.map((s) => s.worker?.process.pid ?? 0),
    failed,
    shutdown,
  };
}

/** A port `host` can be bound on now (the kernel's choice for port 0). */
async function freePort(host: string): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ port: 0, host }, resolve);
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Sends `message` to `worker` if it can still be told; never throws, never emits. */
export function send(worker: Worker, message: ToWorker): void {
  if (!worker.isConnected()) return;
  try {
    // With a callback, a pipe that broke meanwhile (EPIPE) is handed to it; without one,
    // it is an 'error' event on the Worker, which nothing listens to: the primary crashed.
    worker.send(message, ignoreSendError);
  } catch {
    // Gone between the check and the send: its 'exit' follows.
  }
}

/** A worker that could not be told is exiting: its 'exit' follows and is handled there. */
function ignoreSendError(): void {}
