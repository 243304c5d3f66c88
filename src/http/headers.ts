import type { ServerResponse } from 'node:http';

/** Streams and polls must never be cached by a browser or proxy. */
export const NO_CACHE = {
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
  Expires: '0',
} as const;

/**
 * Headers of a forever-frame stream. `X-Accel-Buffering: no` turns off nginx's response
 * buffering for this response; no Content-Length so Node sends it chunked; no
 * Content-Encoding: a compressing middleware would buffer the stream.
 */
export const STREAM_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  ...NO_CACHE,
  'X-Accel-Buffering': 'no',
  'X-Content-Type-Options': 'nosniff',
} as const;

/** A long-poll answer as plain JSON (read with XHR/fetch; CORS for allowed origins). */
export const POLL_JSON_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  ...NO_CACHE,
  'X-Content-Type-Options': 'nosniff',
} as const;

/** A long-poll answer as JSONP: nosniff makes browsers refuse it as anything but script. */
export const POLL_JSONP_HEADERS = {
  'Content-Type': 'application/javascript; charset=utf-8',
  ...NO_CACHE,
  'X-Content-Type-Options': 'nosniff',
} as const;

/** Server-sent events: never cached, never buffered by nginx. */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  ...NO_CACHE,
  'X-Accel-Buffering': 'no',
  'X-Content-Type-Options': 'nosniff',
} as const;

/**
 * A stream ends by closing its connection (it owns the socket by then), so its head says
 * `Connection: close`. Said `keep-alive`, a proxy that pools upstream connections (nginx
 * `keepalive`) takes the connection back at the stream's last chunk and may send the
 * page's next request on it before the close arrives: that request fails, and nginx
 * with its passive check on (`max_fails`) sends nothing to the node for `fail_timeout`.
 * Call before the head is written; Node then renders `Connection: close` itself.
 */
export function closesAfterResponse(res: ServerResponse): void {
  res.shouldKeepAlive = false;
}
