import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * The control channel between the load generator and a server under test (pushframe
 * or the bare-Node baseline): Node's IPC pipe of a forked child. Publishing happens
 * inside the server process, as an application would do it, so the figures measure
 * fan-out and not an HTTP publish round trip; both servers run the same publisher.
 */

/** Sampling resolution of the event-loop delay while publishing (ms). */
const LOOP_DELAY_RESOLUTION_MS = 1;

export interface PublishPlan {
  /** Message `seq` goes to `channels[seq % channels.length]`. */
  channels: string[];
  count: number;
  /** Messages per second; 0 = as fast as possible (one publish turn per event-loop turn). */
  rate: number;
  /** Messages published in the same tick on each turn (a burst). */
  burst: number;
  /** Extra characters of data per message, to vary the payload size. */
  pad: number;
}

export type Command = { op: 'mem' } | { op: 'publish'; plan: PublishPlan } | { op: 'stop' };

export interface MemFigures {
  rss: number;
  heapUsed: number;
  external: number;
  /** CPU time of the server process so far, microseconds (user + system). */
  cpuMicros: number;
}

export type Reply =
  | { op: 'ready'; port: number; path: string }
  | ({ op: 'mem' } & MemFigures)
  | { op: 'published'; count: number; payloadBytes: number; ms: number; loopDelayP99Ms: number; loopDelayMaxMs: number }
  | { op: 'error'; message: string };

/** The data every bench message carries: sequence number, send time, optional padding. */
export interface BenchData {
  s: number;
  /** Send time in microseconds of CLOCK_MONOTONIC, which all processes on the machine share. */
  t: number;
  x?: string;
}

/** Microseconds on the machine-wide monotonic clock (process.hrtime is CLOCK_MONOTONIC). */
export function nowMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export interface ServerUnderTest {
  port: number;
  /** Path and query prefix of a stream request, e.g. `/pushframe/stream?channels=`. */
  streamPath: string;
  /** Publishes one message; must not throw for a well-formed message. */
  publish(channel: string, data: BenchData): void;
  close(): Promise<void>;
}

function send(reply: Reply): void {
  process.send?.(reply);
}

function memFigures(): MemFigures {
  // Started with --expose-gc: collect twice so that RSS reflects live objects only.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  const cpu = process.cpuUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, cpuMicros: cpu.user + cpu.system };
}

/** Runs a publish plan: bursts of `burst` messages, paced by `rate` or by the event loop. */
export function runPlan(
  plan: PublishPlan,
  publish: (channel: string, data: BenchData) => void,
): Promise<{ payloadBytes: number; ms: number; loopDelayP99Ms: number; loopDelayMaxMs: number }> {
  const pad = plan.pad > 0 ? 'x'.repeat(plan.pad) : undefined;
  const burst = Math.max(1, plan.burst);
  const intervalMs = plan.rate > 0 ? (1000 * burst) / plan.rate : 0;
  const started = performance.now();
  let seq = 0;
  let payloadBytes = 0;
  // How late the server's event loop runs while it fans out: what every other request waits.
  const loop = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loop.enable();
  return new Promise((resolve) => {
    const turn = (): void => {
      const end = Math.min(plan.count, seq + burst);
      for (; seq < end; seq++) {
        const data: BenchData = pad === undefined ? { s: seq, t: nowMicros() } : { s: seq, t: nowMicros(), x: pad };
        payloadBytes += JSON.stringify(data).length;
        publish(plan.channels[seq % plan.channels.length], data);
      }
      if (seq >= plan.count) {
        const ms = performance.now() - started;
        // Let the last turn's lateness register before reading the histogram.
        setTimeout(() => {
          loop.disable();
          const has = loop.count > 0;
          resolve({ payloadBytes, ms, loopDelayP99Ms: has ? loop.percentile(99) / 1e6 : 0, loopDelayMaxMs: has ? loop.max / 1e6 : 0 });
        }, 2 * LOOP_DELAY_RESOLUTION_MS);
        return;
      }
      if (intervalMs === 0) {
        setImmediate(turn);
      } else {
        // Paced against the start time, so timer lateness does not accumulate.
        const due = started + (seq / burst) * intervalMs;
        setTimeout(turn, Math.max(0, due - performance.now()));
      }
    };
    turn();
  });
}

/** Wires a server under test to the control channel; call once the server listens. */
export function serveControl(server: ServerUnderTest): void {
  if (!process.send) throw new Error('start this file through the bench (it needs an IPC channel)');
  process.on('message', (raw) => {
    const cmd = raw as Command;
    switch (cmd.op) {
      case 'mem':
        send({ op: 'mem', ...memFigures() });
        break;
      case 'publish':
        runPlan(cmd.plan, server.publish).then(
          (r) => send({ op: 'published', count: cmd.plan.count, ...r }),
          (err: Error) => send({ op: 'error', message: err.message }),
        );
        break;
      case 'stop':
        // process.exit after close lets --cpu-prof write its profile.
        server.close().finally(() => process.exit(0));
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ op: 'ready', port: server.port, path: server.streamPath });
}
