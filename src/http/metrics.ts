import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Hub } from '../hub';
import type { ConnectionRegistry } from '../transports';
import type { BrowserBudget } from './browsers';
import type { ConnectionLimits } from './limits';

/**
 * Prometheus metrics of one server, in a registry of its own (several servers in one
 * process must not collide). Connection and message figures are read at scrape time
 * from the same tallies `/stats` reads, so the two never disagree; only what has no
 * other home (publish outcomes and latency, refusals) is counted here.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly publishLatency: Histogram<'outcome'>;
  private readonly refusals: Counter<'code'>;
  private readonly refusalCounts: Record<string, number> = {};
  private published = 0;

  constructor(hub: Hub, connections: ConnectionRegistry, limits: ConnectionLimits, budget: BrowserBudget) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'pushframe_' });
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
      help: 'Requests refused with an error, by error code (limits, auth, bad input).',
      labelNames: ['code'],
      registers,
    });
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
