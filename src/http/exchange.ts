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

/** An Exchange over a bare node:http request, for a target already split at `?`. */
export class BareExchange implements Exchange {
  readonly state = {};
  /** What each header this exchange touched held before, so that `unset` can put it back. */
  private before: Map<string, number | string | string[] | undefined> | null = null;

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
    this.remember(field);
    this.res.setHeader(field, value);
  }

  append(field: string, value: string): void {
    const prev = this.res.getHeader(field);
    this.remember(field);
    this.res.setHeader(field, prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value]);
  }

  /** Puts back every header this exchange changed as it was (the request goes on elsewhere). */
  unset(): void {
    if (this.before) {
      for (const [name, value] of this.before) {
        if (value === undefined) this.res.removeHeader(name);
        else this.res.setHeader(name, value);
      }
    }
    this.before = null;
  }

  private remember(field: string): void {
    const name = field.toLowerCase();
    const before = (this.before ??= new Map());
    if (!before.has(name)) before.set(name, this.res.getHeader(name));
  }
}
