/**
 * The error catalogue: every error a client can see has a stable code, an HTTP status
 * and a default message. Before a response's first byte an error is answered as
 * `{ "error": { "code", "message" } }` with the status; on an open stream it becomes
 * an error frame and the stream ends.
 */
export const ERRORS = {
  bad_request: [400, 'The request is malformed.'],
  bad_channel: [400, 'Channel names are 1-200 characters of [A-Za-z0-9_.:-] in segments separated by "/"; no segment is "." or "..".'],
  bad_pattern: [400, 'Subscriptions are channel names, optionally ending in "/*" or "/**".'],
  bad_cursor: [400, 'The "since" cursor is malformed.'],
  bad_json: [400, 'The body is not valid JSON.'],
  bad_callback: [400, 'The JSONP callback must be a generated member of an allowed namespace, like Pushframe._poll.f1_a_2.'],
  bad_origin: [403, 'This origin is not allowed to embed pushframe streams.'],
  bad_grant: [403, 'The grant for a private channel is missing, expired or forged.'],
  reserved_channel: [403, 'Channels under "_sys/" are published by the server itself.'],
  too_many_channels: [400, 'Too many channels in one subscription.'],
  unauthorized: [401, 'A valid publish key is required: Authorization: Bearer <key>.'],
  not_found: [404, 'No such endpoint.'],
  unknown_host: [421, 'This server does not answer to that host name.'],
  method_not_allowed: [405, 'Method not allowed on this endpoint.'],
  not_implemented: [501, 'The server does not implement this method.'],
  body_too_large: [413, 'The request body is too large.'],
  message_too_large: [413, 'The message is larger than the configured maximum.'],
  unsupported_media_type: [415, 'Publish bodies must be JSON (Content-Type: application/json).'],
  request_timeout: [408, 'The request headers did not arrive in time.'],
  header_too_large: [431, 'The request header or query string is too large.'],
  query_too_large: [414, 'The query string is too long or has too many parameters.'],
  rate_limited: [429, 'Too many publishes; slow down.'],
  too_many_connections: [503, 'The server holds as many connections as it allows; retry later.'],
  // 429, not 503: a proxy that retries 503 on another node (and marks the node down)
  // must not do so because one client is greedy.
  too_many_client_connections: [429, 'This client address holds as many connections as one client may; close one first.'],
  broker_unavailable: [503, 'The message broker is unavailable; retry later.'],
  shutting_down: [503, 'The server is shutting down; retry on another node.'],
  slow_consumer: [503, 'The connection fell too far behind and was closed; resume from the last id.'],
  internal: [500, 'Internal error.'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export class PushframeError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message?: string,
  ) {
    super(message ?? ERRORS[code][1]);
    this.name = 'PushframeError';
    this.status = ERRORS[code][0];
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Errors crossing module or realm boundaries are recognised by shape, not instanceof. */
export function isPushframeError(err: unknown): err is PushframeError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'PushframeError' &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code in ERRORS
  );
}
