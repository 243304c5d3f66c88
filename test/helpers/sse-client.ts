import http from 'node:http';

export interface SseEvent {
  /** `message` when the event has no `event:` line. */
  event: string;
  data: string;
  /** The `id:` of this event, if it carried one. */
  id?: string;
}

/**
 * A text/event-stream client over a real socket that parses the wire the way the
 * EventSource spec does (fields, comments, `retry:`, last event id), keeping the raw
 * body so tests can assert bytes too.
 */
export class SseClient {
  body = '';
  events: SseEvent[] = [];
  comments = 0;
  retries: number[] = [];
  lastEventId = '';
  ended = false;
  private rest = '';
  private waiters: (() => void)[] = [];

  private constructor(
    readonly res: http.IncomingMessage,
    readonly req: http.ClientRequest,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => this.onData(chunk));
    res.on('end', () => this.onEnd());
    res.on('close', () => this.onEnd());
    res.on('error', () => this.onEnd());
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { agent: false, headers }, (res) => resolve(new SseClient(res, req)));
      req.on('error', reject);
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  get messages(): { channel: string; id: string; data: unknown }[] {
    return this.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data));
  }

  waitFor(pred: (c: SseClient) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events.slice(-5))}`));
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

  waitForEvent(name: string, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.events.some((e) => e.event === name), timeoutMs, `a "${name}" event`);
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
    let end: number;
    while ((end = this.rest.indexOf('\n\n')) !== -1) {
      const block = this.rest.slice(0, end);
      this.rest = this.rest.slice(end + 2);
      this.onBlock(block);
    }
    this.notify();
  }

  private onBlock(block: string): void {
    let event = 'message';
    let data: string[] | null = null;
    let id: string | undefined;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments++;
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') (data ??= []).push(value);
      else if (field === 'id') id = this.lastEventId = value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retries.push(Number(value));
    }
    // As in EventSource: a block without data dispatches nothing.
    if (data !== null) this.events.push({ event, data: data.join('\n'), id });
  }

  private onEnd(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
