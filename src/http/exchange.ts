import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

/**
 * What pushframe's request checks read and answer through. A Koa context is one, so the
 * routes pass theirs; the stream fast path (stream-fast-path.ts) makes a bare one, so
 * that opening a stream runs the very same checks without Koa's per-request objects.
 */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** The path of the request target, as sent (not decoded). */
  readonly path: string;
  /** The query string, without `?`. */
  readonly querystring: string;
  /** Whether the connection itself is TLS (Koa's `ctx.secure` without `app.proxy`). */
  readonly secure: boolean;
  /** Memos of this request (its parsed query). */
  readonly state: object;
  /** A request header, `''` when absent. */
  get(field: string): string;
  /** Sets a response header. */
  set(field: string, value: string): void;
  /** Adds a value to a response header (Set-Cookie). */
  append(field: string, value: string): void;
}

/**
 * An Exchange over a bare node:http request, for a target already split at `?`. The
 * response headers its checks set (a new browser's cookie) are kept here, not on the
 * response: they go out with the stream's head in one writeHead, or are dropped when a
 * check refuses and the request goes on to the Koa app as it came.
 */
export class BareExchange implements Exchange {
  readonly state = {};
  /** Response headers set so far, as writeHead takes a list: name, value, name, value. */
  private setHeaders: string[] | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly path: string,
    readonly querystring: string,
  ) {}

  get method(): string {
    return this.req.method ?? 'GET';
  }

  get secure(): boolean {
    return (this.req.socket as TLSSocket).encrypted === true;
  }

  get(field: string): string {
    const name = field.toLowerCase();
    const headers = this.req.headers;
    // Koa reads either spelling of the referrer header.
    const value = name === 'referer' || name === 'referrer' ? headers.referrer ?? headers.referer : headers[name];
    return value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value;
  }

  set(field: string, value: string): void {
    const list = this.setHeaders;
    if (list !== null) {
      const name = field.toLowerCase();
      for (let i = list.length - 2; i >= 0; i -= 2) if (list[i].toLowerCase() === name) list.splice(i, 2);
    }
    this.append(field, value);
  }

  append(field: string, value: string): void {
    (this.setHeaders ??= []).push(field, value);
  }

  /** The response headers set so far (name, value, ...), or null when none was. */
  get responseHeaders(): readonly string[] | null {
    return this.setHeaders;
  }
}
