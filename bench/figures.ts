/** The figures one scenario yields for one server, and how they are shown. */
import { median } from './stats';

export interface Figures {
  streams: number;
  openFailures: number;
  openMs: number;
  /** Server CPU time per stream opened (after the warm-up streams), microseconds. */
  openCpuMicros: number;
  /** The same over the first and the second half of those openings. */
  openCpuFirstMicros: number;
  openCpuLaterMicros: number;
  /** The first and the second half, main thread only (without V8's compiler and collector helpers). */
  openCpuFirstMainMicros: number;
  openCpuLaterMainMicros: number;
  rssBeforeMiB: number;
  /** With every stream open and idle, after a full collection. */
  rssAfterMiB: number;
  rssPerStreamKiB: number;
  /** JavaScript heap and external memory per idle stream, after a full collection. */
  heapPerStreamKiB: number;
  rssPeakMiB: number;
  published: number;
  expected: number;
  delivered: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  droppedStreams: number;
  unexpectedFrames: number;
  deliveredPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  headBytes: number;
  bytesBeforeFirstMessage: number;
  wireBytesPerMessage: number;
  payloadBytesPerMessage: number;
  overheadBytesPerMessage: number;
  serverCpuMicrosPerDelivery: number;
  /** How long the server took to publish the plan (its event loop was busy fanning out). */
  publishMs: number;
  /** Event-loop delay of the server process while it published (ms): what any other request waits. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  serverCpuPercent: number;
  /** All cores, kernel work (softirq of loopback TCP) included: 100 = every core busy. */
  machineCpuPercent: number;
  generatorCpuPercent: number;
  /** Storm: from the first reconnect to every stream open again with its backlog. */
  stormMs: number;
  /** Storm: reconnects refused or failed. */
  refused: number;
  /** Slowest /healthz answer while streams were opening (and during the storm). */
  healthzMaxMs: number;
}

interface Row {
  key: keyof Figures;
  label: string;
  digits: number;
  /** Whether a ratio to the baseline means something for this figure. */
  ratio: boolean;
}

export const ROWS: Row[] = [
  { key: 'streams', label: 'streams open', digits: 0, ratio: false },
  { key: 'openMs', label: 'time to open them (ms)', digits: 0, ratio: true },
  { key: 'openCpuMicros', label: 'server CPU per stream opened (us)', digits: 1, ratio: true },
  { key: 'openCpuFirstMicros', label: '  first half of the openings (us)', digits: 1, ratio: true },
  { key: 'openCpuLaterMicros', label: '  second half (us)', digits: 1, ratio: true },
  { key: 'openCpuFirstMainMicros', label: '  first half, main thread (us)', digits: 1, ratio: true },
  { key: 'openCpuLaterMainMicros', label: '  second half, main thread (us)', digits: 1, ratio: true },
  { key: 'stormMs', label: 'storm: all back with backlog (ms)', digits: 0, ratio: true },
  { key: 'refused', label: 'storm: reconnects refused', digits: 0, ratio: false },
  { key: 'healthzMaxMs', label: '/healthz slowest answer (ms)', digits: 1, ratio: true },
  { key: 'deliveredPerSec', label: 'delivered msgs/s (all streams)', digits: 0, ratio: true },
  { key: 'latencyP50Ms', label: 'latency p50 (ms)', digits: 1, ratio: true },
  { key: 'latencyP99Ms', label: 'latency p99 (ms)', digits: 1, ratio: true },
  { key: 'latencyMaxMs', label: 'latency max (ms)', digits: 1, ratio: true },
  { key: 'rssBeforeMiB', label: 'server RSS before streams (MiB)', digits: 1, ratio: true },
  { key: 'rssAfterMiB', label: 'server RSS, all streams open (MiB)', digits: 1, ratio: true },
  { key: 'rssPerStreamKiB', label: 'server RSS per idle stream (KiB)', digits: 1, ratio: true },
  { key: 'heapPerStreamKiB', label: '  of which JS heap + external (KiB)', digits: 1, ratio: true },
  { key: 'rssPeakMiB', label: 'server RSS peak (MiB)', digits: 1, ratio: true },
  { key: 'headBytes', label: 'response head (bytes)', digits: 0, ratio: true },
  { key: 'bytesBeforeFirstMessage', label: 'bytes before first message', digits: 0, ratio: true },
  { key: 'wireBytesPerMessage', label: 'wire bytes per message', digits: 1, ratio: true },
  { key: 'overheadBytesPerMessage', label: '  beyond the JSON payload', digits: 1, ratio: true },
  { key: 'serverCpuMicrosPerDelivery', label: 'server CPU per delivery (us)', digits: 2, ratio: true },
  { key: 'publishMs', label: 'time to publish all (ms)', digits: 0, ratio: true },
  { key: 'loopDelayP99Ms', label: 'server event-loop delay p99 (ms)', digits: 1, ratio: true },
  { key: 'loopDelayMaxMs', label: 'server event-loop delay max (ms)', digits: 1, ratio: true },
  { key: 'serverCpuPercent', label: 'server CPU while publishing (%)', digits: 0, ratio: false },
  { key: 'machineCpuPercent', label: 'machine CPU, all cores (%)', digits: 0, ratio: false },
  { key: 'generatorCpuPercent', label: 'generator CPU while publishing (%)', digits: 0, ratio: false },
  { key: 'expected', label: 'expected deliveries', digits: 0, ratio: false },
  { key: 'lost', label: 'lost', digits: 0, ratio: false },
  { key: 'duplicates', label: 'duplicated', digits: 0, ratio: false },
  { key: 'outOfOrder', label: 'out of order', digits: 0, ratio: false },
  { key: 'droppedStreams', label: 'streams dropped by the server', digits: 0, ratio: false },
];

export function medianFigures(runs: Figures[]): Figures {
  const out = {} as Record<keyof Figures, number>;
  for (const key of Object.keys(runs[0]) as (keyof Figures)[]) {
    // Failures are summed (any is a failure), everything else is the median of the runs.
    const failure = key === 'lost' || key === 'duplicates' || key === 'outOfOrder' || key === 'droppedStreams' || key === 'openFailures' || key === 'unexpectedFrames' || key === 'refused';
    out[key] = failure ? runs.reduce((s, r) => s + r[key], 0) : median(runs.map((r) => r[key]));
  }
  return out as Figures;
}

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratioOf(a: number, b: number): number {
  return b === 0 || !Number.isFinite(a) || !Number.isFinite(b) ? NaN : a / b;
}

/** A plain-text table: pushframe, baseline, and pushframe / baseline. */
export function table(title: string, pf: Figures | undefined, base: Figures | undefined): string {
  const lines = [title];
  const head = ['figure', 'pushframe', 'bare node', 'ratio'];
  const rows = ROWS.map((r) => [
    r.label,
    fmt(pf?.[r.key], r.digits),
    fmt(base?.[r.key], r.digits),
    r.ratio && pf && base ? fmt(ratioOf(pf[r.key], base[r.key]), 2) + 'x' : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  lines.push(line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line));
  return lines.join('\n');
}
