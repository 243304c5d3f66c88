import http from 'node:http';

/**
 * The part every raw-socket test client shares: it reads a response body as it
 * arrives, remembers it, and lets a test wait (bounded in time) until something about
 * what arrived holds. Subclasses parse the wire in `onData`.
 */
export abstract class BodyReader {
  body = '';
  ended = false;
  private waiters: (() => void)[] = [];

  protected constructor(
    readonly res: http.IncomingMessage,
    readonly req: http.ClientRequest,
    encoding: BufferEncoding,
  ) {
    res.setEncoding(encoding);
    res.on('data', (chunk: string) => {
      this.body += chunk;
      this.onData(chunk);
      this.notify();
    });
    const onEnd = (): void => {
      this.ended = true;
      this.notify();
    };
    res.on('end', onEnd);
    res.on('close', onEnd);
    res.on('error', onEnd);
  }

  /** GETs `url` (without connection reuse unless given an agent) and resolves with the response head. */
  protected static request(
    url: string,
    headers: Record<string, string>,
    agent: http.Agent | false = false,
  ): Promise<{ res: http.IncomingMessage; req: http.ClientRequest }> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { agent, headers }, (res) => resolve({ res, req }));
      req.on('error', reject);
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  /** Resolves when `pred` holds, or rejects after `timeoutMs` saying what was received. */
  waitFor(pred: (c: this) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; last received: ${this.recent()}`));
      }, timeoutMs);
      const check = (): void => {
        if (!pred(this)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  waitForEnd(timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.ended, timeoutMs, 'the end of the stream');
  }

  close(): void {
    this.req.destroy();
  }

  /** Parses a chunk of the body (already appended to `body`). */
  protected abstract onData(chunk: string): void;

  /** What the last few parsed items were, for timeout messages. */
  protected abstract recent(): string;

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
