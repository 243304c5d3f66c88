import { originAllowed } from './origins';

/**
 * CORS for the readable transports (poll as JSON, SSE): the request's `Origin` is echoed
 * only when it is allowed; `Vary: Origin` always, so a cache never hands one origin's
 * answer to another. Requests are simple GETs; no credentials are involved.
 */
export function corsHeaders(origin: string | undefined, allowed: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = { Vary: 'Origin' };
  if (origin && originAllowed(origin, allowed)) headers['Access-Control-Allow-Origin'] = origin;
  return headers;
}

/** Preflight answer: EventSource may send `Last-Event-ID`, which is not a simple header. */
export function preflightHeaders(origin: string | undefined, allowed: readonly string[]): Record<string, string> {
  const headers = corsHeaders(origin, allowed);
  if (headers['Access-Control-Allow-Origin']) {
    headers['Access-Control-Allow-Methods'] = 'GET';
    headers['Access-Control-Allow-Headers'] = 'Last-Event-ID';
    headers['Access-Control-Max-Age'] = '600';
  }
  return headers;
}
