import http from 'node:http';
import { DEFAULTS } from './config';
import { ERRORS, PushframeError, type ErrorCode } from './errors';

/**
 * The node-level settings a server that carries pushframe's streams needs. startServer
 * applies them to its own server; an application that brings its own applies them with
 * `streamServerOptions()` (at creation) and `applyStreamSettings()` (after).
 */
export interface StreamSettings {
  /** Time to send the request headers (slowloris); a stream's body is not affected. */
  headersTimeoutMs?: number;
  /** Request line + headers, in bytes; a longer query is answered 431. */
  maxHeaderBytes?: number;
}

/** Node closes a request after 300 s by default; a stream lives for hours. */
export const REQUEST_TIMEOUT_MS = 0;
/** Idle keep-alive connections between polls or publishes. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Node's parser errors that have a catalogue code of their own; the rest are bad_request. */
const CLIENT_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'header_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
};

/** Options for `http.createServer(options, app)`: the header size limit and a timely header check. */
export function streamServerOptions(settings: StreamSettings = {}): http.ServerOptions {
  const headersTimeoutMs = settings.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs;
  return {
    maxHeaderSize: settings.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
    noDelay: true,
    // Node checks header deadlines on this interval (30 s by default): keep it finer than the deadline.
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersTimeoutMs / 4))),
  };
}

/**
 * Sets the timeouts a stream needs on an existing server: no request timeout (Node's
 * default 300 s would cut every stream), a header deadline, a short keep-alive, and
 * JSON answers instead of a bare socket close for malformed or oversize requests.
 */
export function applyStreamSettings<S extends http.Server>(server: S, settings: StreamSettings = {}): S {
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = settings.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Garbage on the socket, an oversize header or headers that never finish: answer if
    // we still can, never crash, never echo what was sent.
    if (!socket.writable) return socket.destroy();
    const code = CLIENT_ERRORS[err.code ?? ''] ?? 'bad_request';
    const [status] = ERRORS[code];
    const reason = http.STATUS_CODES[status] ?? 'Error';
    const body = JSON.stringify(new PushframeError(code).toJSON());
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });
  return server;
}
