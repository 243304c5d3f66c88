import type Koa from 'koa';
import { PushframeError } from '../errors';

const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (!ORIGIN.test(origin)) return false;
  return allowed.includes('*') || allowed.includes(origin);
}

/** Same origin as the request, judged by host: behind a TLS proxy the scheme differs. */
export function sameHost(origin: string, host: string): boolean {
  const at = origin.indexOf('://');
  return at !== -1 && origin.slice(at + 3).toLowerCase() === host.toLowerCase();
}

/**
 * The `Origin` header policy of every subscribing endpoint. Browsers send `Origin` on
 * cross-origin fetch/XHR/EventSource requests (and on none of an iframe's navigations):
 * when present it must be the server's own host or an allowed origin. Returns the origin
 * to name in CORS headers when it is a permitted cross-origin one.
 *
 * `Referer` is not checked: pages may suppress it (`Referrer-Policy: no-referrer`), so
 * requiring it breaks honest pages, and its absence proves nothing. What keeps a hostile
 * page from reading a stream is the stream document's `frame-ancestors`, the
 * postMessage target origin and the browser's same-origin policy.
 */
export function checkOriginHeader(ctx: Koa.Context, allowed: readonly string[]): string | undefined {
  const origin = ctx.get('origin');
  if (origin === '' || sameHost(origin, ctx.host)) return undefined;
  if (!originAllowed(origin, allowed)) throw new PushframeError('bad_origin');
  return origin;
}

/**
 * Who may frame the stream document: its own origin, plus the page origin the stream
 * posts to when it is cross-origin (already checked against the allowlist).
 */
export function framingPolicy(pageOrigin: string | undefined): string {
  return pageOrigin === undefined ? "frame-ancestors 'self'" : `frame-ancestors 'self' ${pageOrigin}`;
}

/**
 * `X-Frame-Options` can only say SAMEORIGIN, and browsers that know `frame-ancestors`
 * ignore it; it is for old IE. Not on `htmlfile` streams: their host is an ActiveX
 * document whose origin is not the page's, so IE would refuse the frame.
 */
export function legacyFramingHeader(pageOrigin: string | undefined, transport: string): Record<string, string> {
  return pageOrigin === undefined && transport === 'iframe' ? { 'X-Frame-Options': 'SAMEORIGIN' } : {};
}
