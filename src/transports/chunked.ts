import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Sink } from './sink';

/**
 * A Sink that writes HTTP/1.1 chunks straight to the response's socket. Through
 * ServerResponse.write every chunk of every connection costs a cork, a nextTick uncork
 * and a four-piece writev (size line, CRLF, data, CRLF); here it is one socket write of
 * one string, and the chunk framing of a message is built once for all the connections
 * that get it. ServerResponse still owns the head and the end of the body.
 */
export class ChunkedSocketSink implements Sink {
  private readonly socket: Socket | null;

  private constructor(private readonly res: ServerResponse) {
    this.socket = res.socket;
  }

  /**
   * Sends the head now and returns a sink over the socket, or the response itself when
   * the body is not chunked (an HTTP/1.0 client) or the socket is already gone.
   */
  static over(res: ServerResponse): Sink {
    res.flushHeaders();
    if (!res.chunkedEncoding || !res.socket || res.socket.destroyed) return res;
    return new ChunkedSocketSink(res);
  }

  write(chunk: string): boolean {
    const socket = this.socket as Socket;
    if (socket.destroyed || chunk.length === 0) return !socket.destroyed;
    return socket.write(framed(chunk), 'utf8');
  }

  end(chunk?: string): void {
    // ServerResponse writes the terminating zero chunk after everything written here.
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  get writableLength(): number {
    return (this.socket as Socket).writableLength;
  }

  get destroyed(): boolean {
    return (this.socket as Socket).destroyed;
  }

  on(event: 'close' | 'drain', listener: () => void): this {
    // The response relays 'drain' only after its own write returned false: take the socket's.
    if (event === 'drain') (this.socket as Socket).on('drain', listener);
    else this.res.on('close', listener);
    return this;
  }

  removeListener(event: 'close' | 'drain', listener: () => void): this {
    if (event === 'drain') (this.socket as Socket).removeListener('drain', listener);
    else this.res.removeListener('close', listener);
    return this;
  }
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

export function framed(body: string): string {
  if (body !== lastBody) {
    lastBody = body;
    lastFramed = Buffer.byteLength(body, 'utf8').toString(16) + '\r\n' + body + '\r\n';
    if (!forgetting) {
      forgetting = true;
      setImmediate(forget);
    }
  }
  return lastFramed;
}
