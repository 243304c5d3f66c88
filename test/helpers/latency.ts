import { spawn } from 'node:child_process';

export interface HealthzProbe {
  /** Resolves once the probe process made its first (uncounted) request: start the attack then. */
  ready: Promise<void>;
  /** Stops probing; resolves with every probe's time in ms (a failed probe counts as Infinity). */
  stop(): Promise<number[]>;
}

/**
 * Probes `GET /healthz` from a process of its own (so the test process's own work, such
 * as opening hundreds of attacking sockets, is not counted as server latency): one
 * request at a time, every `everyMs`, each on a fresh connection from `localAddress`
 * (another loopback address stands for another client), until stopped or `maxMs` passed.
 */
export function startHealthzProbe(url: string, options: { everyMs?: number; localAddress?: string; timeoutMs?: number; maxMs?: number } = {}): HealthzProbe {
  const o = { everyMs: 25, timeoutMs: 5000, maxMs: 120_000, ...options, url };
  const script = `
    const http = require('node:http');
    const o = ${JSON.stringify(o)};
    const times = [];
    let running = true;
    process.stdin.on('data', () => (running = false));
    process.stdin.on('end', () => (running = false));
    const end = Date.now() + o.maxMs;
    const probe = () => new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      let settled = false;
      const done = (ok) => { if (settled) return; settled = true; times.push(ok ? Number(process.hrtime.bigint() - t0) / 1e6 : null); resolve(); };
      const req = http.get(o.url + '/healthz', { agent: false, localAddress: o.localAddress, timeout: o.timeoutMs }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200));
        res.on('error', () => done(false));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => done(false));
    });
    (async () => {
      // The first request pays for this process's own module loading: not counted.
      await probe();
      times.length = 0;
      process.stdout.write('ready\\n');
      while (running && Date.now() < end) { await probe(); await new Promise((r) => setTimeout(r, o.everyMs)); }
      process.stdout.write(JSON.stringify(times) + '\\n');
      process.exit(0);
    })();
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => {
    out += c;
    if (out.includes('ready\n')) onReady();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    ready,
    async stop() {
      child.stdin.end('stop\n');
      await exited;
      const line = out.split('\n').find((l) => l.startsWith('['));
      if (!line) throw new Error('the probe process printed no result: ' + out);
      return (JSON.parse(line) as (number | null)[]).map((t) => (t === null ? Infinity : t));
    },
  };
}

/** The q-quantile (0..1) of probe times, nearest rank. */
export function quantile(times: readonly number[], q: number): number {
  if (times.length === 0) return Infinity;
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** The largest of a list of probe times. */
export function worst(times: readonly number[]): number {
  return times.reduce((a, b) => Math.max(a, b), 0);
}

/**
 * What "the server stays responsive" means in these tests, on a shared 2-core machine
 * where any process can wait for a core now and then: the median probe under
 * `medianMs`, 90 % under `typicalMs`, none past `worstMs`. A stalled event loop (a
 * quadratic parse, a scan of every channel) delays nearly every probe by the stall.
 */
export function expectResponsive(times: readonly number[], medianMs = 100, typicalMs = 500, worstMs = 2_000): void {
  const summary = {
    probes: times.length,
    median: Math.round(quantile(times, 0.5)),
    p90: Math.round(quantile(times, 0.9)),
    worst: Math.round(worst(times)),
  };
  expect(summary.probes).toBeGreaterThan(5);
  if (summary.median >= medianMs || summary.p90 >= typicalMs || summary.worst >= worstMs) {
    throw new Error(`/healthz was slow: ${JSON.stringify(summary)}; every probe (ms): ${times.map((t) => Math.round(t)).join(' ')}`);
  }
}
