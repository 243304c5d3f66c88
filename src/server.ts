import http from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type nunjucks from 'nunjucks';
import type { Registry } from 'prom-client';
import type { Broker } from './brokers';
import { ConfigError, type Config } from './config';
import type { Stats } from './http/routes/ops';
import type { Hub } from './hub';
import type { Logger } from './log';
import { healthFastPath, isHealthCheck } from './http/health-fast-path';
import { pacedListener } from './http/pacing';
import { streamOpener } from './http/routes/stream';
import { streamFastPath } from './http/stream-fast-path';
import { createCore, type Pushframe } from './pushframe';
import { destroyReleased } from './transports';
import { applyStreamSettings, streamServerOptions } from './stream-settings';

export { createBroker } from './pushframe';

export interface PushframeServer {
  readonly config: Config;
  readonly hub: Hub;
  readonly app: Koa;
  readonly http: http.Server;
  readonly log: Logger;
  /** The embedded pushframe this server runs (publish, embed, stats). */
  readonly pushframe: Pushframe;
  /** The prom-client registry `GET /metrics` serves: an application may add its own metrics to it. */
  readonly metrics: Registry;
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
   * (which answer only under the prefix, `/healthz`, `/metrics` and, with `demo`, `/`). */
  setup?: (app: Koa, context: SetupContext) => void | Promise<void>;
  /** What `GET /metrics` answers instead of this server's own registry (a cluster worker
   * answers with every worker's, see cluster/metrics.ts). */
  metricsText?: () => Promise<string>;
}

/** What an application's `setup` gets besides the Koa app. */
export interface SetupContext {
  config: Config;
  hub: Hub;
  /** pushframe's nunjucks environment (its views folder and the `js` filter). */
  views: nunjucks.Environment;
}

/**
 * Connections waiting to be accepted. Node's 511 overflows when thousands of clients
 * come back at once after a restart, and each refused SYN costs its client a second or
 * more; the kernel caps this at net.core.somaxconn.
 */
const LISTEN_BACKLOG = 4096;

/**
 * Milliseconds of request handling per event-loop turn before further requests wait for
 * the next turn (http/pacing.ts): a health check is answered within about this much
 * handling, even while thousands of clients reconnect at once.
 */
const TURN_BUDGET_MS = 10;

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

/** pushframe's own server: createPushframe's routes plus health, metrics and the demo, listening. */
export async function startServer(options: StartOptions = {}): Promise<PushframeServer> {
  const { setup, metricsText, ...rest } = options;
  if (rest.workers !== undefined && rest.workers !== '1') {
    throw new ConfigError('startServer runs one process; for several workers use startCluster (or the --workers flag)');
  }
  const core = await createCore(rest);
  const { push, deps } = core;
  const { config } = deps;
  if (metricsText) deps.metricsText = metricsText;
  const app = core.createHostApp({ ops: true, demo: config.demo });
  if (setup) {
    try {
      await setup(app, { config, hub: push.hub, views: deps.views });
    } catch (err) {
      await core.destroy();
      throw err;
    }
  }
  // Stream openings and health checks skip Koa (http/*-fast-path.ts); everything else is the app's.
  const handle = healthFastPath(deps, streamFastPath(deps, streamOpener(deps), app.callback()));
  const listener = pacedListener(handle, isHealthCheck, TURN_BUDGET_MS);
  const server = applyStreamSettings(http.createServer(streamServerOptions(config), listener), config);
  core.sockets.attach(server);
  deps.log.debug({ socketBudget: core.sockets.total, perIp: core.sockets.perIp }, 'client socket budget');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await core.destroy();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost === '0.0.0.0' || shownHost === '[::]' ? 'localhost' : shownHost}:${address.port}`;
  deps.sysStats?.start(config.nodeId || `${hostname()}:${address.port}`);

  let closing: Promise<void> | null = null;
  const serverClosed = (): Promise<void> => new Promise<void>((resolve) => server.close(() => resolve()));

  return {
    config,
    hub: push.hub,
    app,
    http: server,
    log: push.log,
    pushframe: push,
    metrics: deps.metrics.registry,
    url,
    port: address.port,
    stats: () => push.stats(),
    shutdown() {
      closing ??= (async () => {
        // Stop accepting first, then let pushframe send every stream its reconnect.
        deps.draining.value = true;
        // The listener closes first, so a proxy's new connections are refused and go to
        // another node before any client here is told to reconnect.
        const closed = serverClosed();
        const sweep = sweepIdleWhileDraining(server);
        const drained = push.close();
        const deadline = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
        await Promise.race([Promise.all([closed, drained]), deadline]);
        clearInterval(sweep);
        server.closeAllConnections();
        // Streams own their sockets (outside Node's list of connections): end them too.
        destroyReleased(server);
        await drained;
      })();
      return closing;
    },
    close() {
      closing ??= (async () => {
        const closed = serverClosed();
        await core.destroy();
        server.closeAllConnections();
        destroyReleased(server);
        await closed;
      })();
      return closing;
    },
  };
}
