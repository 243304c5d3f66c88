/**
 * The cost of idle streams: N streams that receive nothing but heartbeats, watched for
 * a fixed window. Body bytes (chunked framing included; TCP/IP headers and ACKs are
 * not) and server CPU are scaled to 10 000 streams. pushframe runs with the default
 * heartbeat and with the former 20 s default; the bare-Node baseline sends nothing at
 * all while idle, so its CPU is the floor of holding N quiet sockets.
 */
import { DEFAULTS } from '../src';
import { newTotals, openAll, StreamClient } from './clients';
import { cpuMicrosOf, ServerProcess, type ServerKind } from './proc';

export interface IdleFigures {
  server: string;
  heartbeatMs: number | null;
  streams: number;
  windowMs: number;
  bytesPerStreamPerMinute: number;
  /** Body bytes per second for 10 000 idle streams. */
  bytesPerSecondPer10k: number;
  /** Server CPU time per second of wall time, for 10 000 idle streams (ms/s = tenths of a percent of one core). */
  serverCpuMsPerSecondPer10k: number;
  unexpectedFrames: number;
  dropped: number;
}

export const IDLE_VARIANTS: { kind: ServerKind; heartbeatMs: number | null; label: string }[] = [
  { kind: 'pushframe', heartbeatMs: DEFAULTS.heartbeatMs, label: `pushframe, heartbeat ${DEFAULTS.heartbeatMs} ms (default)` },
  { kind: 'pushframe', heartbeatMs: 20_000, label: 'pushframe, heartbeat 20000 ms (former default)' },
  { kind: 'baseline', heartbeatMs: null, label: 'bare Node, no heartbeat' },
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runIdle(
  variant: (typeof IDLE_VARIANTS)[number],
  n: number,
  windowMs: number,
  parallel: number,
): Promise<IdleFigures> {
  const env: Record<string, string> = variant.heartbeatMs === null ? {} : { PUSHFRAME_BENCH_HEARTBEAT_MS: String(variant.heartbeatMs) };
  const { server, port, path } = await ServerProcess.start(variant.kind, null, null, env);
  const totals = newTotals();
  const clients = Array.from({ length: n }, () => new StreamClient('bench/idle', totals));
  try {
    const errors = await openAll(clients, port, path, parallel, 60_000);
    if (errors.length > 0) throw new Error(`${errors.length} idle streams failed to open, e.g. ${errors[0]}`);
    // Let the opening burst and its garbage settle, and spread nothing on purpose: the
    // streams opened over a second or so, as a real crowd would.
    await sleep(2000);
    const bytes0 = clients.reduce((sum, c) => sum + c.reader.wireBytes, 0);
    const cpu0 = cpuMicrosOf(server.pid);
    const t0 = performance.now();
    await sleep(windowMs);
    const wall = performance.now() - t0;
    const cpu = cpuMicrosOf(server.pid) - cpu0;
    const bytes = clients.reduce((sum, c) => sum + c.reader.wireBytes, 0) - bytes0;
    const scale = 10_000 / n;
    return {
      server: variant.label,
      heartbeatMs: variant.heartbeatMs,
      streams: n,
      windowMs: Math.round(wall),
      bytesPerStreamPerMinute: (bytes / n) * (60_000 / wall),
      bytesPerSecondPer10k: (bytes * scale * 1000) / wall,
      serverCpuMsPerSecondPer10k: (cpu / 1000) * scale * (1000 / wall),
      unexpectedFrames: totals.unexpectedFrames.length,
      dropped: totals.dropped,
    };
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
}

export function idleTable(rows: IdleFigures[]): string {
  const head = '| server | streams | window | bytes / stream / min | bytes / s per 10 000 streams | server CPU ms / s per 10 000 streams |';
  const rule = '| --- | ---: | ---: | ---: | ---: | ---: |';
  const lines = rows.map(
    (r) =>
      `| ${r.server} | ${r.streams} | ${(r.windowMs / 1000).toFixed(1)} s | ${r.bytesPerStreamPerMinute.toFixed(0)} | ${Math.round(r.bytesPerSecondPer10k)} | ${r.serverCpuMsPerSecondPer10k.toFixed(1)} |`,
  );
  return [head, rule, ...lines].join('\n');
}
