import type { Hub, Subscriber } from './hub';
import type { Message } from './protocol';

/**
 * The channel on which the server publishes its own figures. `$` is outside the
 * channel grammar, so system channels live under `_sys/`.
 */
export const SYS_STATS_CHANNEL = '_sys/stats';
/** Each node's own figures: `_sys/stats/<node>`. `_sys/stats` carries the cluster's. */
export const SYS_NODE_STATS_PATTERN = '_sys/stats/*';
/** A node not heard from for this many intervals has left the cluster view. */
const STALE_INTERVALS = 3;
/** Keep-latest key of the stats messages: a lagging client gets only the newest sample. */
export const SYS_STATS_KEY = 'stats';
/** Samples kept for the dashboard's server-rendered chart (one minute at 1 Hz). */
const SAMPLES_KEPT = 60;

/** The running totals the sampler turns into rates (a subset of GET /stats). */
export interface StatsSource {
  uptimeSeconds: number;
  connections: { total: number; byTransport: Record<string, number> };
  messages: { in: number; out: number; written: number };
  bytes: { out: number };
  memory: { rss: number; heapUsed: number };
}

/** One node's line in the cluster view. */
export interface NodeFigures {
  node: string;
  at: number;
  connections: number;
  rates: { in: number; out: number; bytesOut: number };
  rss: number;
  uptimeSeconds: number;
}

/** A node id that is also a channel segment: host names and ports fit; anything else becomes `-`. */
export function nodeSegment(id: string): string {
  const seg = id.replace(/[^A-Za-z0-9_.:-]/g, '-').slice(0, 100);
  return seg === '' || seg === '.' || seg === '..' ? 'node' : seg;
}

/**
 * The cluster's figures from each node's latest sample: connections, outgoing rates,
 * bytes and memory add up; `in` counts messages reaching a node from the broker, and
 * every node with subscribers receives the same message, so the cluster's is the
 * busiest node's rather than a sum that would count one message once per node.
 */
export function clusterSample(samples: readonly StatsSample[], at: number): StatsSample {
  const sorted = [...samples].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const byTransport: Record<string, number> = {};
  const sum = { connections: 0, msgIn: 0, msgOut: 0, rateIn: 0, rateOut: 0, bytesRate: 0, bytes: 0, rss: 0, heap: 0, uptime: 0 };
  for (const s of sorted) {
    sum.connections += s.connections.total;
    for (const [t, n] of Object.entries(s.connections.byTransport)) byTransport[t] = (byTransport[t] ?? 0) + n;
    sum.msgIn = Math.max(sum.msgIn, s.messages.in);
    sum.msgOut += s.messages.out;
    sum.rateIn = Math.max(sum.rateIn, s.rates.in);
    sum.rateOut += s.rates.out;
    sum.bytesRate += s.rates.bytesOut;
    sum.bytes += s.bytes.out;
    sum.rss += s.memory.rss;
    sum.heap += s.memory.heapUsed;
    sum.uptime = Math.max(sum.uptime, s.uptimeSeconds);
  }
  const r = (n: number): number => Math.round(n * 10) / 10;
  return {
    at,
    node: 'cluster',
    uptimeSeconds: sum.uptime,
    connections: { total: sum.connections, byTransport },
    messages: { in: sum.msgIn, out: sum.msgOut },
    rates: { in: r(sum.rateIn), out: r(sum.rateOut), bytesOut: r(sum.bytesRate) },
    bytes: { out: sum.bytes },
    memory: { rss: sum.rss, heapUsed: sum.heap },
    nodes: sorted.map((s) => ({
      node: s.node,
      at: s.at,
      connections: s.connections.total,
      rates: s.rates,
      rss: s.memory.rss,
      uptimeSeconds: s.uptimeSeconds,
    })),
  };
}

/** What is published on `_sys/stats/<node>` (one node) and `_sys/stats` (the cluster) once per interval. */
export interface StatsSample {
  /** Milliseconds since the epoch when the sample was taken. */
  at: number;
  /** The node's id; `cluster` for the sum. */
  node: string;
  uptimeSeconds: number;
  connections: { total: number; byTransport: Record<string, number> };
  messages: { in: number; out: number };
  /** Per-second rates over the last interval. */
  rates: { in: number; out: number; bytesOut: number };
  bytes: { out: number };
  memory: { rss: number; heapUsed: number };
  /** In the cluster view: one line per node, in id order. */
  nodes?: NodeFigures[];
}

/**
 * Samples the node's figures every `intervalMs`, computes per-second rates from the
 * difference to the previous sample, and publishes the result on `_sys/stats/<node>` with
 * a keep-latest key. It also listens to every node's channel and keeps the cluster view:
 * the sum of each live node's latest sample, which the node with the smallest id publishes
 * on `_sys/stats` (one publisher, so a page never sees two nodes' numbers alternate; when
 * it leaves, the next takes over within a few intervals). Keeps the last minute of cluster
 * samples for pages rendered on the server.
 */
export class SysStats {
  private timer: NodeJS.Timeout | null = null;
  private previous: { at: number; in: number; out: number; bytes: number } | null = null;
  private readonly samples: StatsSample[] = [];
  private publishing = false;
  /** Latest sample of every node heard from, with when it was heard (this node's clock). */
  private readonly latest = new Map<string, { sample: StatsSample; heardAt: number }>();
  private listener: Subscriber | null = null;
  private nodeId: string;

  constructor(
    private readonly hub: Hub,
    private readonly source: () => StatsSource,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly now: () => number = Date.now,
    node = 'node',
  ) {
    this.nodeId = nodeSegment(node);
  }

  /** This node's id in the figures (a channel segment). */
  get node(): string {
    return this.nodeId;
  }

  /** Starts publishing, as `node` when given (known once the server listens); does nothing when the interval is 0 (off). */
  start(node?: string): void {
    if (node !== undefined) this.nodeId = nodeSegment(node);
    if (this.intervalMs <= 0 || this.timer) return;
    this.listen();
    this.sample();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.listener) this.hub.unsubscribe(this.listener);
    this.listener = null;
  }

  /** The cluster samples taken so far, oldest first (at most the last minute's worth). */
  history(): readonly StatsSample[] {
    return this.samples;
  }

  /** The channel this node's own figures go to. */
  get channel(): string {
    return SYS_STATS_CHANNEL + '/' + this.node;
  }

  private listen(): void {
    const self = this;
    this.listener = {
      open() {},
      deliver(msg: Message) {
        self.heard(msg);
      },
    };
    this.hub.subscribe(this.listener, [SYS_NODE_STATS_PATTERN]).catch((err: unknown) => this.onError(err));
  }

  private heard(msg: Message): void {
    let sample: StatsSample;
    try {
      sample = JSON.parse(msg.json) as StatsSample;
    } catch {
      return;
    }
    if (!sample || typeof sample.node !== 'string' || sample.node === this.node) return;
    this.latest.set(sample.node, { sample, heardAt: this.now() });
  }

  /** Live nodes' latest samples (this one's included); forgets nodes gone quiet. */
  private live(own: StatsSample): StatsSample[] {
    const now = this.now();
    const out = [own];
    for (const [node, { sample, heardAt }] of this.latest) {
      if (now - heardAt > STALE_INTERVALS * this.intervalMs) this.latest.delete(node);
      else out.push(sample);
    }
    return out;
  }

  /** Takes a sample now (rates since the previous one) and remembers it. */
  sample(): StatsSample {
    const s = this.source();
    const at = this.now();
    const prev = this.previous;
    const seconds = prev ? Math.max(at - prev.at, 1) / 1000 : 0;
    const rate = (now: number, before: number | undefined): number =>
      prev && before !== undefined ? Math.round(((now - before) / seconds) * 10) / 10 : 0;
    const sample: StatsSample = {
      at,
      node: this.node,
      uptimeSeconds: s.uptimeSeconds,
      connections: { total: s.connections.total, byTransport: { ...s.connections.byTransport } },
      messages: { in: s.messages.in, out: s.messages.written },
      rates: {
        in: rate(s.messages.in, prev?.in),
        out: rate(s.messages.written, prev?.out),
        bytesOut: rate(s.bytes.out, prev?.bytes),
      },
      bytes: { out: s.bytes.out },
      memory: { rss: s.memory.rss, heapUsed: s.memory.heapUsed },
    };
    this.previous = { at, in: s.messages.in, out: s.messages.written, bytes: s.bytes.out };
    const cluster = clusterSample(this.live(sample), at);
    this.samples.push(cluster);
    if (this.samples.length > SAMPLES_KEPT) this.samples.shift();
    return sample;
  }

  /** Does this node publish the cluster view? The live node with the smallest id does. */
  private leads(): boolean {
    for (const node of this.latest.keys()) if (node < this.node) return false;
    return true;
  }

  private tick(): void {
    // A slow broker must not pile up publishes: skip a beat instead.
    if (this.publishing) return;
    let sample: StatsSample;
    try {
      sample = this.sample();
    } catch (err) {
      // A timer callback that throws ends the process: a figure that cannot be read
      // (EMFILE while reading /proc) costs one sample, not every viewer's connection.
      this.onError(err);
      return;
    }
    const cluster = this.samples[this.samples.length - 1];
    this.publishing = true;
    const sends = [this.hub.publish(this.channel, sample, { key: SYS_STATS_KEY })];
    if (this.leads()) sends.push(this.hub.publish(SYS_STATS_CHANNEL, cluster, { key: SYS_STATS_KEY }));
    Promise.all(sends).then(
      () => {
        this.publishing = false;
      },
      (err: unknown) => {
        this.publishing = false;
        this.onError(err);
      },
    );
  }
}
