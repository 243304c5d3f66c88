import http from 'node:http';

export interface LatencyWatch {
  /** Stops probing; resolves with every probe's time in ms (a failed probe counts as Infinity). */
  stop(): Promise<number[]>;
}

/**
 * Probes `GET /healthz` one request at a time, every `everyMs`, on a fresh connection
 * from `localAddress` (another loopback address stands for another client), and records
 * how long each answer took. What a stalled event loop or a refused connection shows first.
 */
export function watchHealthz(url: string, options: { everyMs?: number; localAddress?: string; timeoutMs?: number } = {}): LatencyWatch {
  const everyMs = options.everyMs ?? 50;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const times: number[] = [];
  let running = true;
  const probe = (): Promise<void> =>
    new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const done = (ok: boolean): void => {
        times.push(ok ? Number(process.hrtime.bigint() - started) / 1e6 : Infinity);
        resolve();
      };
      const req = http.get(`${url}/healthz`, { agent: false, localAddress: options.localAddress, timeout: timeoutMs }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200));
        res.on('error', () => done(false));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => done(false));
    });
  const loop = (async () => {
    while (running) {
      await probe();
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return times;
    },
  };
}

/** The largest of a list of probe times, for failure messages that show them all. */
export function worst(times: readonly number[]): number {
  return times.reduce((a, b) => Math.max(a, b), 0);
}

/**
 * The same probe from a process of its own, so the test process's own work (opening
 * hundreds of attacking sockets) does not count as server latency. Probes for
 * `durationMs` and resolves with every probe's time in ms (Infinity for a failure).
 */
export function probeHealthzInChild(
  url: string,
  options: { durationMs: number; everyMs?: number; localAddress?: string; timeoutMs?: number },
): Promise<number[]> {
  const script = `
    const http = require('node:http');
    const o = ${JSON.stringify({ everyMs: 25, timeoutMs: 5000, ...options, url })};
    const times = [];
    const end = Date.now() + o.durationMs;
    const probe = () => new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      const done = (ok) => { times.push(ok ? Number(process.hrtime.bigint() - t0) / 1e6 : null); resolve(); };
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
      while (Date.now() < end) { await probe(); await new Promise((r) => setTimeout(r, o.everyMs)); }
      process.stdout.write(JSON.stringify(times));
    })();
  `;
  return new Promise((resolve, reject) => {
    const child = require('node:child_process').spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (out += c));
    child.on('exit', () => {
      try {
        resolve((JSON.parse(out) as (number | null)[]).map((t) => (t === null ? Infinity : t)));
      } catch {
        reject(new Error('the probe process printed no result: ' + out));
      }
    });
  });
}
