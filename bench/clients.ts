/**
 * The load generator's side of a stream: one raw TCP socket per stream, a hand-rolled
 * HTTP reader, and per-stream bookkeeping of what arrived (loss, duplicates, order,
 * latency). Kept lean because the generator shares the machine's cores with the server.
 */
import net from 'node:net';
import { nowMicros, type BenchData } from './control';
import { Samples } from './stats';
import { FrameScanner, HttpStreamReader, parseMessages, type Frame } from './wire';

export interface Totals {
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  /** Frames other than p.o / p.m / p.h / p.c: resets, reconnects, errors. */
  unexpectedFrames: string[];
  /** Sockets that closed or failed before the bench closed them. */
  dropped: number;
  latency: Samples;
  /** Earliest send stamp seen: when the first message of the plan was published. */
  firstSendMicros: number;
  lastReceiveMicros: number;
}

export function newTotals(): Totals {
  return { delivered: 0, duplicates: 0, outOfOrder: 0, unexpectedFrames: [], dropped: 0, latency: new Samples(), firstSendMicros: Infinity, lastReceiveMicros: 0 };
}

/**
 * Streams come from 16 loopback addresses (127.0.0.1-16), as a crowd of viewers comes from
 * many: a server's per-address share of its sockets (half its descriptor budget) is not
 * what the bench measures.
 */
const SOURCES = 16;
let sourceAt = 0;

function nextSource(): string {
  sourceAt = (sourceAt % SOURCES) + 1;
  return '127.0.0.' + sourceAt;
}

export class StreamClient {
  reader = new HttpStreamReader();
  private scanner = new FrameScanner();
  private readonly frames: Frame[] = [];
  private socket: net.Socket | null = null;
  opened = false;
  closedByUs = false;
  /** Which sequence numbers arrived; sized when a publish plan starts. */
  seen: Uint8Array = new Uint8Array(0);
  lastSeq = -1;
  received = 0;
  /** Wire bytes when the publish plan started. */
  bytesAtStart = 0;
  failure: string | null = null;
  /** The cursor of the last open frame (what a resuming client sends as since=). */
  cursor: string | null = null;

  constructor(
    readonly patterns: string,
    private readonly totals: Totals,
  ) {}

  /** `query` is appended to the request's query string (e.g. `&since=<cursor>`). */
  open(port: number, path: string, timeoutMs: number, query = ''): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: nextSource() });
      this.socket = socket;
      socket.setNoDelay(true);
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => settle(new Error(`stream did not open within ${timeoutMs} ms`)), timeoutMs);
      socket.on('connect', () => {
        socket.write(`GET ${path}${this.patterns}${query} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/html\r\nUser-Agent: pushframe-bench\r\n\r\n`);
      });
      socket.on('data', (chunk: Buffer) => {
        try {
          this.onData(chunk);
        } catch (err) {
          this.failure = (err as Error).message;
          socket.destroy();
        }
        if (this.opened) settle();
      });
      socket.on('error', (err) => {
        this.failure ??= err.message;
        settle(err);
      });
      socket.on('close', () => {
        if (!this.closedByUs) this.totals.dropped++;
        settle(new Error(this.failure ?? 'stream closed before it opened'));
      });
    });
  }

  /** Expect sequence numbers 0..count-1 (of which this stream gets those on its channels). */
  expect(count: number): void {
    this.seen = new Uint8Array(count);
    this.lastSeq = -1;
    this.received = 0;
    this.bytesAtStart = this.reader.wireBytes;
  }

  close(): void {
    this.closedByUs = true;
    this.socket?.destroy();
  }

  /** Forgets the connection (not what arrived), so open() can connect again: a reconnect. */
  reset(): void {
    this.close();
    this.socket = null;
    this.reader = new HttpStreamReader();
    this.scanner = new FrameScanner();
    this.opened = false;
    this.closedByUs = false;
    this.failure = null;
  }

  private onData(chunk: Buffer): void {
    const body = this.reader.feed(chunk);
    if (this.reader.head && this.reader.head.status !== 200) throw new Error(`stream answered ${this.reader.head.status}`);
    if (body.length === 0) return;
    this.scanner.push(body, this.frames);
    if (this.frames.length === 0) return;
    const now = nowMicros();
    for (const frame of this.frames) {
      if (frame.kind === 'm') this.onMessages(frame.args, now);
      else if (frame.kind === 'o') {
        this.opened = true;
        this.cursor = frame.args.slice(1, frame.args.indexOf('"', 1));
      } else if (frame.kind !== 'h' && frame.kind !== 'c') this.totals.unexpectedFrames.push(frame.kind + '(' + frame.args.slice(0, 80) + ')');
    }
    this.frames.length = 0;
  }

  private onMessages(args: string, now: number): void {
    const totals = this.totals;
    for (const d of parseMessages(args)) {
      const data = d.data as BenchData;
      const seq = data.s;
      if (seq < this.seen.length && this.seen[seq] === 1) {
        totals.duplicates++;
        continue;
      }
      if (seq < this.seen.length) this.seen[seq] = 1;
      if (seq < this.lastSeq) totals.outOfOrder++;
      this.lastSeq = seq;
      this.received++;
      totals.delivered++;
      if (data.t < totals.firstSendMicros) totals.firstSendMicros = data.t;
      totals.latency.add((now - data.t) / 1000);
    }
    totals.lastReceiveMicros = now;
  }
}

/** Opens streams with at most `parallel` handshakes in flight (the listen backlog is finite). */
export async function openAll(
  clients: StreamClient[],
  port: number,
  path: string,
  parallel: number,
  timeoutMs: number,
  query: (c: StreamClient) => string = () => '',
): Promise<string[]> {
  const errors: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < clients.length) {
      const c = clients[next++];
      try {
        await c.open(port, path, timeoutMs, query(c));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, clients.length) }, worker));
  return errors;
}
