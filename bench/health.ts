/**
 * Asks the server under test for `/healthz` over one keep-alive connection, one
 * request at a time every few milliseconds, and keeps the slowest answer: whether the
 * server stays responsive while thousands of streams open at once.
 *
 * The probe runs in a process of its own, as a balancer's health checker does. In the
 * generator's process an answer also waited for the generator's own event loop, busy
 * reading ten thousand streams, and the figure measured both processes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';

const INTERVAL_MS = 20;

type FromProbe = { op: 'ready' } | { op: 'done'; maxMs: number; answered: number };

/** The generator's side: starts and stops probe processes; `maxMs` is the slowest answer of all of them. */
export class HealthProbe {
  maxMs = 0;
  answered = 0;
  private child: ChildProcess | null = null;

  constructor(private readonly port: number) {}

  /** Resolves once the first answer is in: the probe's connection is up before the openings start. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = fork(__filename, [String(this.port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    await this.next(child, 'ready');
  }

  /** Stops probing; resolves once the probe reported (and `maxMs` includes) its answers. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child?.connected) return;
    child.send('stop');
    const done = await this.next(child, 'done');
    if (done.op === 'done') {
      this.maxMs = Math.max(this.maxMs, done.maxMs);
      this.answered += done.answered;
    }
  }

  private next(child: ChildProcess, op: FromProbe['op']): Promise<FromProbe> {
    return new Promise((resolve, reject) => {
      const onMessage = (msg: FromProbe): void => {
        if (msg.op !== op) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(msg);
      };
      const onExit = (code: number | null): void => reject(new Error(`the /healthz probe exited (${code}) before "${op}"`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }
}

/** The probe process: asks until told to stop, then reports and exits. */
async function probeUntilStopped(port: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let maxMs = 0;
  let answered = 0;
  let running = true;
  process.on('message', () => (running = false));
  const probe = async (): Promise<void> => {
    const t0 = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
    });
    const ms = performance.now() - t0;
    if (ok) answered++;
    // A failed probe counts as slow as it was; it is not skipped.
    if (ms > maxMs) maxMs = ms;
  };
  await probe();
  process.send?.({ op: 'ready' } satisfies FromProbe);
  while (running) {
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
    if (running) await probe();
  }
  agent.destroy();
  process.send?.({ op: 'done', maxMs, answered } satisfies FromProbe, () => process.exit(0));
}

if (require.main === module) {
  probeUntilStopped(Number(process.argv[2])).catch((err: Error) => {
    console.error(err);
    process.exit(1);
  });
}
