import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Sink } from './sink';
import { canReleaseHttp, releaseHttp } from './takeover';

type Listener = () => void;

/**
 * A Sink that writes HTTP/1.1 chunks straight to the response's socket. Through
 * ServerResponse.write every chunk of every connection costs a cork, a nextTick uncork
 * and a four-piece writev (size line, CRLF, data, CRLF); here it is one socket write of
 * one string, and the chunk framing of a message is built once for all the connections
 * that get it.
 *
 * The head goes out with the first chunk: one socket write per new stream, not one for
 * the head and one for the preamble. Shortly after that (outside
 * the request handler's stack) the sink takes the socket over from Node's HTTP server
 * (takeover.ts), so the request, the response and the parser do not live as long as the
 * stream; from then on the sink ends the body and the connection itself. Until then, or
 * where the connection cannot be released, ServerResponse owns the end of the body.
 */
export class ChunkedSocketSink implements Sink {
  private res: ServerResponse | null;
  private readonly socket: Socket;
  /** The sink's own listeners while Node's HTTP server holds the socket: they stay on it
   * when Node's come off. Dropped then (a stream's life is spent released). */
  private listeners: Listener[] | null = [];
  /** The head is still to go out, with the first chunk. */
  private headPending = true;

  private constructor(res: ServerResponse, socket: Socket) {
    this.res = res;
    this.socket = socket;
  }

  /**
   * A sink over the socket of `res`, whose head is set (writeHead) but not sent; or the
   * response itself when the body is not chunked (an HTTP/1.0 client) or the socket is
   * already gone.
   */
  static over(res: ServerResponse): Sink {
    if (!res.chunkedEncoding || !res.socket || res.socket.destroyed) return res;
    return new ChunkedSocketSink(res, res.socket);
  }

  write(chunk: string): boolean {
    const socket = this.socket;
    if (socket.destroyed || chunk.length === 0) return !socket.destroyed;
    const res = this.res;
    if (res !== null && this.headPending) {
      this.headPending = false;
      if (canReleaseHttp(res)) {
        queueRelease(this);
        const head = unsentHead(res);
        // The head Node built (writeHead) and this first chunk as one socket write: through
        // ServerResponse it would be a cork, a nextTick and a four-piece writev.
        // A stream's first chunk is its own (its open frame names it): not one to remember.
        if (head !== null) return socket.write(head + frame(chunk), 'utf8');
      }
      return res.write(chunk, 'utf8');
    }
    return socket.write(framed(chunk), 'utf8');
  }

  end(chunk?: string): void {
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    if (this.res) {
      // ServerResponse writes the terminating zero chunk after everything written here.
      this.res.end();
    } else if (!this.socket.destroyed) {
      this.socket.end(LAST_CHUNK);
    }
  }

  destroy(): void {
    if (this.res) this.res.destroy();
    else this.socket.destroy();
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  on(event: 'close' | 'drain', listener: Listener): this {
    // The socket's own events: the response relays 'drain' only after its own write
    // returned false, and the socket outlives the sink's hold on the response.
    this.listeners?.push(listener);
    this.socket.on(event, listener);
    return this;
  }

  removeListener(event: 'close' | 'drain', listener: Listener): this {
    const i = this.listeners ? this.listeners.indexOf(listener) : -1;
    if (i !== -1) this.listeners?.splice(i, 1);
    this.socket.removeListener(event, listener);
    return this;
  }

  /** Takes the socket from Node's HTTP server, if the connection is still as it was. */
  release(): void {
    const res = this.res;
    if (res === null || releaseHttp(res, this.listeners ?? undefined) === null) return;
    this.res = null;
    this.listeners = null;
  }
}

const LAST_CHUNK = '0\r\n\r\n';

/** ServerResponse's own record of its head: built by writeHead, not yet written. */
interface HeadState {
  _header?: unknown;
  _headerSent?: unknown;
}

/**
 * The head `res` would send with its first write, marked as sent (the caller writes it);
 * null where this Node keeps its head otherwise (then ServerResponse sends it).
 */
function unsentHead(res: ServerResponse): string | null {
  const state = res as ServerResponse & HeadState;
  if (typeof state._header !== 'string' || state._headerSent !== false) return null;
  state._headerSent = true;
  return state._header;
}

/** Sinks made during this event-loop turn, released together in the next (one setImmediate per turn). */
let toRelease: ChunkedSocketSink[] = [];

function queueRelease(sink: ChunkedSocketSink): void {
  if (toRelease.length === 0) setImmediate(releaseAll);
  toRelease.push(sink);
}

function releaseAll(): void {
  const batch = toRelease;
  toRelease = [];
  for (let i = 0; i < batch.length; i++) batch[i].release();
}

/**
 * The framing of the last body string seen: during a fan-out every connection writes the
 * same one. Kept for the current event-loop turn only (a fan-out runs in one turn), so a
 * large chunk is not held after it was written.
 */
let lastBody = '';
let lastFramed = '';
let forgetting = false;

function forget(): void {
  lastBody = '';
  lastFramed = '';
  forgetting = false;
}

/** `body` as one HTTP/1.1 chunk. */
function frame(body: string): string {
  return Buffer.byteLength(body, 'utf8').toString(16) + '\r\n' + body + '\r\n';
}

export function framed(body: string): string {
  if (body !== lastBody) {
    lastBody = body;
    lastFramed = frame(body);
    if (!forgetting) {
      forgetting = true;
      setImmediate(forget);
    }
  }
  return lastFramed;
}
