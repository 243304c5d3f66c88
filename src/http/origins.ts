import type { Exchange } from './exchange';
import type { Config } from '../config';
import { PushframeError } from '../errors';
import type { ClientInfo } from '../proxy';
import { client } from './client';

const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (!ORIGIN.test(origin)) return false;
  return allowed.includes('*') || allowed.includes(origin);
}

const DEFAULT_PORTS: Record<string, string> = { http: ':80', https: ':443' };

/**
 * Is `origin` the origin the client addressed this request to? The host is the one the
 * client asked for (`X-Forwarded-Host` from a trusted proxy, else `Host`), and the host
 * check has already refused names the server does not answer to, so a rebound DNS name
 * never gets this far. The scheme is compared when a trusted proxy reported it; without
 * one, a TLS-terminating proxy makes the request look like http, so only hosts count.
 */
export function sameOrigin(origin: string, info: ClientInfo): boolean {
  const at = origin.indexOf('://');
  if (at === -1 || info.host === '') return false;
  const scheme = origin.slice(0, at).toLowerCase();
  const strip = (h: string, s: string): string => {
    const port = DEFAULT_PORTS[s];
    const lower = h.toLowerCase();
    return port && lower.endsWith(port) ? lower.slice(0, -port.length) : lower;
  };
  if (info.forwardedProto && scheme !== info.proto) return false;
  return strip(origin.slice(at + 3), scheme) === strip(info.host, info.forwardedProto ? info.proto : scheme);
}

/** The request's own origin, as the client sees it (for absolute URLs in pages). */
export function requestOrigin(ctx: Exchange, config: Config): string {
  const info = client(ctx, config);
  return info.proto + '://' + info.host;
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
export function checkOriginHeader(ctx: Exchange, config: Config): string | undefined {
  const origin = ctx.get('origin');
  if (origin === '' || sameOrigin(origin, client(ctx, config))) return undefined;
  if (!originAllowed(origin, config.allowedOrigins)) throw new PushframeError('bad_origin');
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
