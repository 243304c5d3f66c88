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
