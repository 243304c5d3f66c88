import { hostname } from 'node:os';
import type Koa from 'koa';
import type nunjucks from 'nunjucks';
import { MemoryBroker, createRedisBroker, type Broker, type PublishOptions } from './brokers';
import { resolveConfig, ConfigError, type Config } from './config';
import { createApp, koaMiddleware, nodeHandler, type HostRoutes, type NodeHandler } from './http/app';
import type { Deps } from './http/deps';
import { loadBridgeAsset } from './http/bridge-asset';
import { embedContext, type EmbedContext } from './http/embed';
import { ReplaceableStreams } from './http/replacing';
import { BrowserBudget } from './http/browsers';
import { proxyTrust } from './http/client';
import { ConnectionLimits } from './http/limits';
import { Metrics } from './http/metrics';
import { SocketBudget, openDescriptors, openFileLimit, type SocketRefusal } from './http/sockets';
import { TokenBuckets } from './http/rate';
import { collectStats, type Stats } from './http/routes/ops';
import { createViews } from './http/views';
import { warmUp } from './http/warm';
import { Hub } from './hub';
import { createLogger, type Logger } from './log';
import { packageRoot } from './paths';
import { SysStats } from './sysstats';
import { ConnectionRegistry } from './transports';

/** A broker note that asks the other nodes to end the stream a `replaces=` token names. */
const REPLACE_NOTE = 'replace ';

/** Settings that belong to a listening server (startServer's), not to an embedded pushframe. */
export type ServerOnlyKey = 'port' | 'host' | 'maxHeaderBytes' | 'demo' | 'workers';

export interface PushframeOptions extends Partial<Omit<Config, ServerOnlyKey>> {
  /** Use this broker instead of the one `broker` names (tests, shared brokers). */
  brokerInstance?: Broker;
  logger?: Logger;
}

/** pushframe inside an application: mount `middleware()` or `handler()`, publish, close. */
export interface Pushframe {
  readonly config: Config;
  readonly hub: Hub;
  readonly log: Logger;
  /** pushframe's nunjucks environment (its views and filters). */
  readonly views: nunjucks.Environment;
  /** Koa middleware: answers under the prefix, passes everything else to `next()`. */
  middleware(): Koa.Middleware;
  /** `(req, res, next?)` for node:http, Express and Connect: `next()` for other paths, or a 404. */
  handler(): NodeHandler;
  /** Publishes `data` (any JSON value) on `channel`; resolves with the message id. */
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<string>;
  /** The render-time context for the embed macro, with this pushframe's prefix as `url`. */
  embed(channels: readonly string[]): Promise<EmbedContext>;
  stats(): Stats;
  /** Graceful: refuse new streams, tell every open one to reconnect after a random delay
   * up to `reconnectJitterMs` (so clients spread over other nodes), then close the broker. */
  close(): Promise<void>;
}

export async function createBroker(config: Config, log: Logger): Promise<Broker> {
  const limits = { maxCount: config.historySize, maxAgeMs: config.historyTtlMs };
  if (config.broker === 'memory') return new MemoryBroker(limits);
  if (/^rediss?:\/\//.test(config.broker)) {
    return createRedisBroker(config.broker, { limits, logger: log.child({ broker: 'redis' }) });
  }
  throw new ConfigError(`broker "${config.broker}" is not available in this build`);
}

/** What startServer needs besides the public object: the wiring, to add its own routes. */
export interface PushframeCore {
  push: Pushframe;
  deps: Deps;
  /** The Koa app of pushframe's own server, with its host routes. */
  createHostApp(host: HostRoutes): Koa;
  /** The client-socket budget; startServer attaches it to its server. */
  sockets: SocketBudget;
  /** Ends every connection at once and closes the broker (tests, a failed start). */
  destroy(): Promise<void>;
}

/** Poll interval while a graceful close waits for connections to end. */
const DRAIN_POLL_MS = 20;

export async function createCore(options: PushframeOptions & Partial<Config> = {}): Promise<PushframeCore> {
  const { brokerInstance, logger, ...rest } = options;
  const config = resolveConfig(rest);
  const log = logger ?? createLogger(config.logLevel);
  const broker = brokerInstance ?? (await createBroker(config, log));
  const hub = new Hub(broker, { maxMessageBytes: config.maxMessageBytes, latestChannels: config.latestChannels });
  const root = packageRoot();
  const connections = new ConnectionRegistry();
  const limits = new ConnectionLimits(config.maxConnections, config.maxConnectionsPerIp);
  const budget = new BrowserBudget(config.maxStreamsPerBrowser, config.prefix || '/');
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
    (address) => proxyTrust(config).trusts(address, 0),
  );
  metrics = new Metrics(hub, connections, limits, budget, sockets);
  // A page's next request may reach another node than its dead stream: tokens this
  // node does not hold go to the others as notes.
  const replaceable = new ReplaceableStreams((token) => broker.notify(REPLACE_NOTE + token));
  broker.setNoteSink((note) => {
    if (note.startsWith(REPLACE_NOTE)) replaceable.replaceHeld(note.slice(REPLACE_NOTE.length));
  });
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
    budget,
    replaceable,
    publishBuckets: config.publishRate > 0 ? new TokenBuckets(config.publishRate) : null,
    metrics,
  };
  const sysStats = new SysStats(hub, () => collectStats(deps), config.statsIntervalMs, (err) =>
    log.warn({ err }, 'could not publish _sys/stats'),
  );
  deps.sysStats = sysStats;

  let middleware: Koa.Middleware | null = null;
  let handler: NodeHandler | null = null;
  let closing: Promise<void> | null = null;
  const stopAll = async (jitterMs: number, deadlineMs: number): Promise<void> => {
    deps.draining.value = true;
    sysStats.stop();
    connections.reconnectAll(jitterMs);
    const deadline = Date.now() + deadlineMs;
    while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    deps.metrics.close();
    await broker.close();
  };

  const push: Pushframe = {
    config,
    hub,
    log,
    views: deps.views,
    middleware: () => (middleware ??= koaMiddleware(deps)),
    handler: () => (handler ??= nodeHandler(deps)),
    publish: (channel, data, opts) => hub.publish(channel, data, opts),
    embed: (channels) => embedContext(hub, channels, config.prefix),
    stats: () => collectStats(deps),
    close: () => (closing ??= stopAll(config.reconnectJitterMs, config.shutdownTimeoutMs)),
  };
  // The bridge is read (and compressed) now, so a missing build fails here, not on a page.
  loadBridgeAsset(root);
  warmUp(deps.views, root);
  return {
    push,
    deps,
    createHostApp: (host) => createApp(deps, host),
    sockets,
    destroy: () => (closing ??= stopAll(0, 0)),
  };
}

/**
 * pushframe for an application that has its own server: Koa (`app.use(push.middleware())`),
 * node:http, Express or Connect (`push.handler()`). See docs/embedding.md for the settings a
 * server that carries streams needs (`applyStreamSettings`).
 */
export async function createPushframe(options: PushframeOptions = {}): Promise<Pushframe> {
  for (const key of ['port', 'host', 'maxHeaderBytes', 'demo', 'workers']) {
    if (key in options) {
      throw new ConfigError(`option "${key}" belongs to a listening server: set it on your own server (or use startServer)`);
    }
  }
  const { push, deps } = await createCore(options);
  // A listening server names its node after its port once it knows it; here the process is the node.
  deps.sysStats?.start(push.config.nodeId || `${hostname()}:${process.pid}`);
  return push;
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
