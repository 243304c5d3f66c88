import http from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type nunjucks from 'nunjucks';
import { MemoryBroker, createRedisBroker, type Broker } from './brokers';
import { resolveConfig, ConfigError, type Config } from './config';
import { ERRORS, PushframeError, type ErrorCode } from './errors';
import { createApp } from './http/app';
import { ConnectionLimits } from './http/limits';
import { Metrics } from './http/metrics';
import { SocketBudget, openDescriptors, openFileLimit, type SocketRefusal } from './http/sockets';
import { TokenBuckets } from './http/rate';
import type { Deps } from './http/deps';
import { collectStats, type Stats } from './http/routes/ops';
import { createViews } from './http/views';
import { Hub } from './hub';
import { createLogger, type Logger } from './log';
import { packageRoot } from './paths';
import { SysStats } from './sysstats';
import { ConnectionRegistry } from './transports';

export interface PushframeServer {
  readonly config: Config;
  readonly hub: Hub;
  readonly app: Koa;
  readonly http: http.Server;
  readonly log: Logger;
  /** `http://host:port` as bound (port 0 resolved). */
  readonly url: string;
  readonly port: number;
  stats(): Stats;
  /** Graceful: stop accepting, tell every stream to reconnect with jitter, drain, close. */
  shutdown(): Promise<void>;
  /** Immediate: end every connection and close (tests). */
  close(): Promise<void>;
}

export interface StartOptions extends Partial<Config> {
  /** Use this broker instead of the one `broker` names (embedding, tests). */
  brokerInstance?: Broker;
  logger?: Logger;
  /** Adds the application's own middleware and routes to the Koa app, after pushframe's
   * (which answer only under the prefix, `/healthz` and, with `demo`, `/`). */
  setup?: (app: Koa, context: SetupContext) => void | Promise<void>;
}

/** What an application's `setup` gets besides the Koa app. */
export interface SetupContext {
  config: Config;
  hub: Hub;
  /** pushframe's nunjucks environment (its views folder and the `js` filter). */
  views: nunjucks.Environment;
}

/** Node closes a request after 300 s by default; a stream lives for hours. */
const REQUEST_TIMEOUT_MS = 0;
/** Node's parser errors that have a catalogue code of their own; the rest are bad_request. */
const CLIENT_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'header_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
};

/** While draining, how often connections that finished a response are closed. */
const DRAIN_SWEEP_MS = 20;

/**
 * A proxy keeps its upstream connections open for reuse (nginx `keepalive`): a stream that
 * ends on a draining node would hand its connection back to the proxy, which would send
 * the client's reconnect straight back here. Closing every connection as soon as it has
 * no request in flight makes the proxy open a new one, which the closed listener refuses.
 */
function sweepIdleWhileDraining(server: http.Server): NodeJS.Timeout {
  server.closeIdleConnections();
  const timer = setInterval(() => server.closeIdleConnections(), DRAIN_SWEEP_MS);
  timer.unref();
  return timer;
}

/** Idle keep-alive connections between polls or publishes. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

export async function createBroker(config: Config, log: Logger): Promise<Broker> {
  const limits = { maxCount: config.historySize, maxAgeMs: config.historyTtlMs };
  if (config.broker === 'memory') return new MemoryBroker(limits);
  if (/^rediss?:\/\//.test(config.broker)) {
    return createRedisBroker(config.broker, { limits, logger: log.child({ broker: 'redis' }) });
  }
  throw new ConfigError(`broker "${config.broker}" is not available in this build`);
}

export async function startServer(options: StartOptions = {}): Promise<PushframeServer> {
  const { brokerInstance, logger, setup, ...rest } = options;
  const config = resolveConfig(rest);
  const log = logger ?? createLogger(config.logLevel);
  const broker = brokerInstance ?? (await createBroker(config, log));
  const hub = new Hub(broker, { maxMessageBytes: config.maxMessageBytes, latestChannels: config.latestChannels });
  const root = packageRoot();
  const connections = new ConnectionRegistry();
  const limits = new ConnectionLimits(config.maxConnections, config.maxConnectionsPerIp);
  const refusalLog = new RefusalLog(log);
  let metrics: Metrics | null = null;
  const sockets = new SocketBudget(
    openFileLimit(),
    openDescriptors(),
    config.maxConnectionsPerIp,
    (reason, ip) => {
      metrics?.refused(reason);
      refusalLog.note(reason, ip);
    },
    (err) => log.error({ err }, 'server socket error'),
  );
  metrics = new Metrics(hub, connections, limits, sockets);
  const deps: Deps = {
    config,
    hub,
    connections,
    views: createViews(root),
    log,
    root,
    startedAt: Date.now(),
    draining: { value: false },
    limits,
    publishBuckets: config.publishRate > 0 ? new TokenBuckets(config.publishRate) : null,
    metrics,
  };
  const sysStats = new SysStats(hub, () => collectStats(deps), config.statsIntervalMs, (err) =>
    log.warn({ err }, 'could not publish _sys/stats'),
  );
  deps.sysStats = sysStats;
  const app = createApp(deps);
  if (setup) {
    try {
      await setup(app, { config, hub, views: deps.views });
    } catch (err) {
      if (!brokerInstance) await broker.close();
      throw err;
    }
  }
  const server = http.createServer(
    {
      maxHeaderSize: config.maxHeaderBytes,
      noDelay: true,
      // Node checks header deadlines on this interval (30 s by default): keep it finer than the deadline.
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(config.headersTimeoutMs / 4))),
    },
    app.callback(),
  );
  sockets.attach(server);
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  // Headers must arrive promptly (slowloris); a stream's body is not affected.
  server.headersTimeout = config.headersTimeoutMs;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Garbage on the socket, an oversize header or headers that never finish: answer if
    // we still can, never crash, never echo what was sent.
    if (!socket.writable) return socket.destroy();
    const code = CLIENT_ERRORS[err.code ?? ''] ?? 'bad_request';
    const [status] = ERRORS[code];
    const reason = http.STATUS_CODES[status] ?? 'Error';
    const body = JSON.stringify(new PushframeError(code).toJSON());
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });

  log.debug({ socketBudget: sockets.total, perIp: sockets.perIp }, 'client socket budget');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost === '0.0.0.0' || shownHost === '[::]' ? 'localhost' : shownHost}:${address.port}`;
  sysStats.start(config.nodeId || `${hostname()}:${address.port}`);

  let closing: Promise<void> | null = null;
  const finish = async (): Promise<void> => {
    sysStats.stop();
    deps.metrics.close();
    server.closeAllConnections();
    await broker.close();
  };

  return {
    config,
    hub,
    app,
    http: server,
    log,
    url,
    port: address.port,
    stats: () => collectStats(deps),
    shutdown() {
      closing ??= (async () => {
        deps.draining.value = true;
        // The listener closes first, so a proxy's new connections are refused and go to
        // another node before any client here is told to reconnect.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const sweep = sweepIdleWhileDraining(server);
        connections.reconnectAll(config.reconnectJitterMs);
        const deadline = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
        await Promise.race([closed, deadline]);
        clearInterval(sweep);
        await finish();
      })();
      return closing;
    },
    close() {
      closing ??= (async () => {
        deps.draining.value = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        connections.reconnectAll(0);
        await finish();
        await closed;
      })();
      return closing;
    },
  };
}

/** Refused connections come in floods: one warning per reason per second, with the count. */
const REFUSAL_LOG_INTERVAL_MS = 1_000;

class RefusalLog {
  private readonly counts = new Map<SocketRefusal, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: Logger) {}

  note(reason: SocketRefusal, ip: string): void {
    const n = this.counts.get(reason) ?? 0;
    this.counts.set(reason, n + 1);
    if (n === 0 && this.timer === null) {
      this.log.warn({ reason, ip }, 'connection refused: ' + reason.replace(/_/g, ' '));
      this.timer = setTimeout(() => this.flush(), REFUSAL_LOG_INTERVAL_MS);
      this.timer.unref();
    }
  }

  private flush(): void {
    this.timer = null;
    const counts = Object.fromEntries(this.counts);
    this.counts.clear();
    const more = Object.values(counts).reduce((a, b) => a + b, 0) - 1;
    if (more > 0) this.log.warn({ refused: counts }, 'connections refused in the last second');
  }
}
