import http from 'node:http';

export interface Frame {
  type: string;
  args: unknown[];
}

export interface Received {
  channel: string;
  id: string;
  data: unknown;
}

/**
 * A forever-frame client over a real socket: reads the raw body, splits it into
 * `<script>p.X(...)</script>` frames and keeps a resume cursor the way the bridge does.
 * Splitting on `</script>` is safe because no payload can contain `<`.
 */
export class StreamClient {
  body = '';
  preamble = '';
  frames: Frame[] = [];
  messages: Received[] = [];
  cursor = '';
  ended = false;
  private rest = '';
  private waiters: (() => void)[] = [];

  private constructor(
    readonly res: http.IncomingMessage,
    readonly req: http.ClientRequest,
  ) {
    res.setEncoding('latin1');
    res.on('data', (chunk: string) => this.onData(chunk));
    res.on('end', () => this.onEnd());
    res.on('close', () => this.onEnd());
    res.on('error', () => this.onEnd());
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { agent: false, headers }, (res) => resolve(new StreamClient(res, req)));
      req.on('error', reject);
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  /** Resolves when `pred` holds, or rejects after `timeoutMs` with what was received. */
  waitFor(pred: (c: StreamClient) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames.slice(-5))}`));
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

  waitForMessages(n: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.messages.length >= n, timeoutMs, `${n} messages (have ${this.messages.length})`);
  }

  waitForFrame(type: string, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.frames.some((f) => f.type === type), timeoutMs, `a p.${type} frame`);
  }

  waitForEnd(timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.ended, timeoutMs, 'the end of the stream');
  }

  close(): void {
    this.req.destroy();
  }

  private onData(chunk: string): void {
    this.body += chunk;
    this.rest += chunk;
    if (!this.preamble) {
      const start = this.rest.indexOf('<script>p.');
      if (start === -1) return this.notify();
      this.preamble = this.rest.slice(0, start);
      this.rest = this.rest.slice(start);
    }
    let end: number;
    while ((end = this.rest.indexOf('</script>')) !== -1) {
      const text = this.rest.slice(0, end);
      this.rest = this.rest.slice(end + '</script>'.length);
      const m = /^<script>p\.([a-z])\(([\s\S]*)\)$/.exec(text);
      if (!m) throw new Error('malformed frame: ' + text.slice(0, 200));
      this.onFrame({ type: m[1], args: JSON.parse('[' + m[2] + ']') as unknown[] });
    }
    this.notify();
  }

  private onFrame(frame: Frame): void {
    this.frames.push(frame);
    if (frame.type === 'o' || frame.type === 'c') this.cursor = frame.args[0] as string;
    if (frame.type !== 'm') return;
    for (let i = 0; i < frame.args.length; i += 3) {
      const [channel, id, data] = frame.args.slice(i, i + 3) as [string, string, unknown];
      this.messages.push({ channel, id, data });
      this.cursor = withEntry(this.cursor, channel, id);
    }
  }

  private onEnd(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** Sets `channel@id` in a cursor string, as the bridge does (ids stay opaque). */
export function withEntry(cursor: string, channel: string, id: string): string {
  const parts = cursor.split(',');
  const kept = parts.filter((p, i) => i === 0 || p.slice(0, p.lastIndexOf('@')) !== channel);
  kept.push(channel + '@' + id);
  return kept.join(',');
}
