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
