import type { Hub } from './hub';

/**
 * The channel on which the server publishes its own figures. `$` is outside the
 * channel grammar, so system channels live under `_sys/`.
 */
export const SYS_STATS_CHANNEL = '_sys/stats';
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

/** What is published on `_sys/stats` once per interval. */
export interface StatsSample {
  /** Milliseconds since the epoch when the sample was taken. */
  at: number;
  uptimeSeconds: number;
  connections: { total: number; byTransport: Record<string, number> };
  messages: { in: number; out: number };
  /** Per-second rates over the last interval. */
  rates: { in: number; out: number; bytesOut: number };
  bytes: { out: number };
  memory: { rss: number; heapUsed: number };
}

/**
 * Samples the server's figures every `intervalMs`, computes per-second rates from the
 * difference to the previous sample, and publishes the result on `_sys/stats` with a
 * keep-latest key. Keeps the last minute of samples for pages rendered on the server.
 */
export class SysStats {
  private timer: NodeJS.Timeout | null = null;
  private previous: { at: number; in: number; out: number; bytes: number } | null = null;
  private readonly samples: StatsSample[] = [];
  private publishing = false;

  constructor(
    private readonly hub: Hub,
    private readonly source: () => StatsSource,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts publishing; does nothing when the interval is 0 (off). */
  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The samples taken so far, oldest first (at most the last minute's worth). */
  history(): readonly StatsSample[] {
    return this.samples;
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
    this.samples.push(sample);
    if (this.samples.length > SAMPLES_KEPT) this.samples.shift();
    return sample;
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
    this.publishing = true;
    this.hub.publish(SYS_STATS_CHANNEL, sample, { key: SYS_STATS_KEY }).then(
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
