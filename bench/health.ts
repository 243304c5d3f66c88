/**
 * Asks the server under test for `/healthz` over one keep-alive connection, one
 * request at a time every few milliseconds, and keeps the slowest answer: whether the
 * server stays responsive while thousands of streams open at once.
 */
import http from 'node:http';

const INTERVAL_MS = 20;

export class HealthProbe {
  maxMs = 0;
  answered = 0;
  private running = false;
  private agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly port: number) {}

  /** Resolves once the first answer is in: the probe's connection is up before the openings start. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await this.probe();
    void this.loop();
  }

  stop(): void {
    this.running = false;
    this.agent.destroy();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
      if (this.running) await this.probe();
    }
  }

  private async probe(): Promise<void> {
    {
      const t0 = performance.now();
      const ok = await new Promise<boolean>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: this.port, path: '/healthz', agent: this.agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200));
        });
        req.on('error', () => resolve(false));
      });
      const ms = performance.now() - t0;
      if (ok) this.answered++;
      // A failed probe counts as slow as it was; it is not skipped.
      if (ms > this.maxMs) this.maxMs = ms;
    }
  }
}
