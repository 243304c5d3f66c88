import type Router from 'koa-router';
import { getHeapStatistics } from 'node:v8';
import type { BrokerStatus } from '../../brokers/broker';
import type { Deps } from '../deps';

export interface Health {
  status: 200 | 503;
  body: { status: 'ok' | 'draining' | 'degraded'; broker: BrokerStatus };
}

/** What `GET /healthz` answers: 200 while the broker is ready and the node is not draining. */
export function health(deps: Deps): Health {
  const broker = deps.hub.broker.status();
  const ok = broker.ready && !deps.draining.value;
  return { status: ok ? 200 : 503, body: { status: ok ? 'ok' : deps.draining.value ? 'draining' : 'degraded', broker } };
}

/** Health and Prometheus metrics: at the host's root, so they belong to a server of its own. */
export function hostOpsRoutes(router: Router, deps: Deps): void {
  // Usually answered before Koa (health-fast-path.ts); this route answers what that leaves
  // to the chain (a body sent with the request) and gives other methods their 405.
  router.get('/healthz', (ctx) => {
    const { status, body } = health(deps);
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  });

  // Prometheus scrapes this; it is not under the prefix so one scrape config fits every node.
  router.get('/metrics', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await (deps.metricsText ? deps.metricsText() : deps.metrics.registry.metrics());
  });
}

/** `GET {prefix}/stats`. */
export function statsRoutes(router: Router, deps: Deps): void {
  router.get(deps.config.prefix + '/stats', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = collectStats(deps);
  });
}

export interface Stats {
  /** The node (process) that answered: its name in `_sys/stats/<node>`. */
  node: string;
  uptimeSeconds: number;
  /** `total`: open stream connections; `slots`: every long-lived request (the limited figure);
   * `browsers`: browsers (by cookie) holding one; `capped`: requests answered at once because
   * their browser held its budget (maxStreamsPerBrowser). */
  connections: { total: number; slots: number; byTransport: Record<string, number>; browsers: number; capped: number };
  channels: { subscribed: number; broker?: number };
  /** `published`: accepted by this node's publish API; `in`: reached this node from the broker;
   * `out`: deliveries to local subscribers; `written`: messages written to clients. */
  messages: { published: number; in: number; out: number; written: number };
  bytes: { out: number };
  drops: Record<string, number>;
  /** Requests refused with an error, by code. */
  refusals: Record<string, number>;
  memory: { rss: number; heapUsed: number };
  broker: ReturnType<Deps['hub']['broker']['status']>;
}

export function collectStats(deps: Deps): Stats {
  const hub = deps.hub.stats();
  const byTransport: Record<string, number> = {};
  const drops: Record<string, number> = {};
  let bytes = 0;
  let written = 0;
  for (const t of deps.connections.allTallies()) {
    byTransport[t.transport] = t.open;
    bytes += t.bytes;
    written += t.messages;
    for (const [reason, n] of Object.entries(t.drops)) drops[reason] = (drops[reason] ?? 0) + n;
  }
  const broker = deps.hub.broker.status();
  const mem = memory();
  const counted = deps.metrics.snapshot();
  return {
    node: deps.sysStats?.node ?? '',
    uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
    connections: {
      total: deps.connections.size,
      slots: deps.limits.size,
      byTransport,
      browsers: deps.budget.browsers,
      capped: deps.budget.capped,
    },
    channels: { subscribed: hub.patterns, broker: broker.channels },
    messages: { published: counted.published, in: hub.messagesIn, out: hub.messagesOut, written },
    bytes: { out: bytes },
    drops,
    refusals: counted.refusals,
    memory: { rss: mem.rss, heapUsed: mem.heapUsed },
    broker,
  };
}

let lastMemory = { rss: 0, heapUsed: 0 };

/**
 * RSS comes from /proc, which needs a descriptor: when none is left, process.memoryUsage()
 * throws EMFILE. The heap figure needs none; the last RSS read stands in until it works again.
 */
function memory(): { rss: number; heapUsed: number } {
  try {
    const m = process.memoryUsage();
    lastMemory = { rss: m.rss, heapUsed: m.heapUsed };
  } catch {
    lastMemory = { rss: lastMemory.rss, heapUsed: safeHeapUsed(lastMemory.heapUsed) };
  }
  return lastMemory;
}

function safeHeapUsed(fallback: number): number {
  try {
    return getHeapStatistics().used_heap_size;
  } catch {
    return fallback;
  }
}
