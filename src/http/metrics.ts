import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Hub } from '../hub';
import type { ConnectionRegistry } from '../transports';
import type { BrowserBudget } from './browsers';
import type { ConnectionLimits } from './limits';
import { openDescriptors, type SocketBudget } from './sockets';

/** Sampling resolution of the event-loop delay histogram. */
const LOOP_DELAY_RESOLUTION_MS = 10;

/**
 * Prometheus metrics of one server, in a registry of its own (several servers in one
 * process must not collide). Connection and message figures are read at scrape time
 * from the same tallies `/stats` reads, so the two never disagree; only what has no
 * other home (publish outcomes and latency, refusals) is counted here.
 */
export class Metrics {
  /** This server's metrics and the process's (processMetrics), for `/metrics`. */
  readonly registry: Registry;
  private readonly publishLatency: Histogram<'outcome'>;
  private readonly refusals: Counter<'code'>;
  private readonly refusalCounts: Record<string, number> = {};
  private published = 0;
  private readonly loopDelay = new LoopDelay(LOOP_DELAY_RESOLUTION_MS);

  constructor(hub: Hub, connections: ConnectionRegistry, limits: ConnectionLimits, budget: BrowserBudget, sockets: SocketBudget) {
    const own = new Registry();
    const registers = [own];
    const loopDelay = this.loopDelay.window;
    new Gauge({
      name: 'pushframe_event_loop_delay_seconds',
      help: 'Event-loop delay since the previous scrape, by quantile (p50, p99, max).',
      labelNames: ['quantile'],
      registers,
      collect() {
        // An empty histogram reports huge sentinel values: nothing measured is zero delay.
        const has = loopDelay.count > 0;
        this.set({ quantile: '0.5' }, has ? loopDelay.percentile(50) / 1e9 : 0);
        this.set({ quantile: '0.99' }, has ? loopDelay.percentile(99) / 1e9 : 0);
        this.set({ quantile: '1' }, has ? loopDelay.max / 1e9 : 0);
        loopDelay.reset();
      },
    });
    new Gauge({
      name: 'pushframe_open_descriptors',
      help: 'File descriptors the process holds (-1 when /proc cannot be read, e.g. none left).',
      registers,
      collect() {
        this.set(openDescriptors());
      },
    });
    new Gauge({
      name: 'pushframe_client_sockets',
      help: 'Client sockets open (every kind of request), counted against the socket budget.',
      registers,
      collect() {
        this.set(sockets.size);
      },
    });
    new Gauge({
      name: 'pushframe_client_socket_budget',
      help: 'Client sockets allowed: the descriptor limit minus what the process needs besides (-1: no limit known).',
      registers,
      collect() {
        this.set(Number.isFinite(sockets.total) ? sockets.total : -1);
      },
    });
    new Gauge({
      name: 'pushframe_queued_bytes',
      help: 'Bytes held for clients: unsent socket buffers plus messages waiting to be written.',
      registers,
      collect() {
        this.set(connections.queuedBytes());
      },
    });
    new Gauge({
      name: 'pushframe_connections',
      help: 'Open client connections by transport.',
      labelNames: ['transport'],
      registers,
      collect() {
        this.reset();
        for (const t of connections.allTallies()) this.set({ transport: t.transport }, t.open);
      },
    });
    new Gauge({
      name: 'pushframe_connection_slots',
      help: 'Long-lived requests holding a connection slot (all transports; limited by maxConnections).',
      registers,
      collect() {
        this.set(limits.size);
      },
    });
    new Gauge({
      name: 'pushframe_browsers',
      help: 'Browsers (by cookie) holding at least one stream or held poll.',
      registers,
      collect() {
        this.set(budget.browsers);
      },
    });
    new Counter({
      name: 'pushframe_capped_requests_total',
      help: 'Streams and polls answered at once because their browser held its maxStreamsPerBrowser.',
      registers,
      collect() {
        this.reset();
        this.inc(budget.capped);
      },
    });
    const fromTallies = (name: string, help: string, pick: (t: ReturnType<ConnectionRegistry['allTallies']>[number]) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['transport'],
        registers,
        collect() {
          this.reset();
          for (const t of connections.allTallies()) this.inc({ transport: t.transport }, pick(t));
        },
      });
    };
    fromTallies('pushframe_connections_opened_total', 'Connections opened, by transport.', (t) => t.opened);
    fromTallies('pushframe_messages_written_total', 'Messages written to clients, by transport.', (t) => t.messages);
    fromTallies('pushframe_bytes_written_total', 'Body bytes written to clients, by transport.', (t) => t.bytes);
    new Counter({
      name: 'pushframe_drops_total',
      help: 'Connections ended by the server or lost, by transport and reason.',
      labelNames: ['transport', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const t of connections.allTallies()) {
          for (const [reason, n] of Object.entries(t.drops)) this.inc({ transport: t.transport, reason }, n);
        }
      },
    });
    const self = this;
    new Counter({
      name: 'pushframe_messages_published_total',
      help: 'Messages accepted by the publish API of this node.',
      registers,
      collect() {
        this.reset();
        this.inc(self.published);
      },
    });
    new Counter({
      name: 'pushframe_messages_in_total',
      help: 'Messages that reached this node from the broker (from any node).',
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats().messagesIn);
      },
    });
    new Counter({
      name: 'pushframe_messages_delivered_total',
      help: 'Deliveries of messages to local subscribers.',
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats().messagesOut);
      },
    });
    new Gauge({
      name: 'pushframe_subscribed_patterns',
      help: 'Distinct subscription patterns on this node.',
      registers,
      collect() {
        this.set(hub.stats().patterns);
      },
    });
    this.publishLatency = new Histogram({
      name: 'pushframe_publish_duration_seconds',
      help: 'Time from a publish request to the broker acknowledging the message.',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.refusals = new Counter({
      name: 'pushframe_refusals_total',
      help: 'Requests refused with an error, by error code (limits, auth, bad input) or connections closed unread (too_many_sockets, too_many_sockets_per_ip, out_of_descriptors).',
      labelNames: ['code'],
      registers,
    });
    this.registry = Registry.merge([own, processMetrics()]);
  }

  /** Stops sampling the event loop (the server is closing). */
  close(): void {
    this.loopDelay.stop();
  }

  /** A publish reached the broker (`ok`) or failed there, after `seconds`. */
  observePublish(seconds: number, ok: boolean): void {
    if (ok) this.published++;
    this.publishLatency.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
  }

  refused(code: string): void {
    this.refusals.inc({ code });
    this.refusalCounts[code] = (this.refusalCounts[code] ?? 0) + 1;
  }

  /** The same counts as the metrics, for `/stats`. */
  snapshot(): { published: number; refusals: Record<string, number> } {
    return { published: this.published, refusals: { ...this.refusalCounts } };
  }
}

let processRegistry: Registry | null = null;

/**
 * The process's own metrics (CPU, memory, handles, GC, event-loop lag), once per
 * process: prom-client watches the collector and the event loop for them with
 * observers it never stops, which would keep every server made in the process, and all
 * it holds, for the life of the process if each server collected its own.
 */
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'pushframe_' });
  }
  return processRegistry;
}

/**
 * Event-loop delay in windows between scrapes: a timer every `resolutionMs` records how
 * late it ran. Not monitorEventLoopDelay: resetting its histogram also forgets when its
 * timer last ran, so the first interval after every scrape goes unrecorded, and a stall
 * that begins just after a scrape is never seen.
 */
class LoopDelay {
  readonly window: RecordableHistogram = createHistogram();
  private last = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly resolutionMs: number) {
    this.timer = setInterval(() => this.sample(), resolutionMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = performance.now();
    const lateMs = now - this.last - this.resolutionMs;
    this.last = now;
    // Nanoseconds, at least 1 (a histogram records positive integers only).
    this.window.record(Math.max(1, Math.round(lateMs * 1e6)));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
