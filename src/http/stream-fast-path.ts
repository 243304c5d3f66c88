import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkHost } from './client';
import type { Deps } from './deps';
import { BareExchange } from './exchange';
import { checkQueryBounds } from './query';
import type { StreamAdmission, StreamOpener } from './routes/stream';

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Opening a stream is what a node does most when its clients come back at once (a
 * restart, a network blip), and Koa's objects and middleware chain cost it about as much
 * as the stream's own work. So `GET {prefix}/stream` goes around Koa: the checks of the
 * request chain (app.ts: query bounds, host) and then the route's own run on a bare
 * Exchange, and the stream starts. Any other request, and any stream request a check
 * refuses, goes to `fallback` (the Koa app) as it came: the chain runs again and answers
 * as it always does, so every refusal has one code path for its status, body, headers,
 * log line and metric.
 */
export function streamFastPath(deps: Deps, opener: StreamOpener, fallback: Listener): Listener {
  const { config } = deps;
  const target = config.prefix + '/stream';
  return (req, res) => {
    const url = req.url ?? '';
    if (req.method !== 'GET' || !url.startsWith(target) || hasBody(req)) return fallback(req, res);
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    // A fragment is not part of what Koa calls the query: leave such odd targets to it.
    if (path !== target || url.indexOf('#') !== -1) return fallback(req, res);
    const ex = new BareExchange(req, res, path, q === -1 ? '' : url.slice(q + 1));
    let admission: StreamAdmission;
    try {
      checkQueryBounds(ex.querystring, config.maxHeaderBytes);
      checkHost(ex, config);
      admission = opener.admit(ex);
    } catch {
      // The headers the checks set stayed with `ex`: the response is as it came.
      return fallback(req, res);
    }
    try {
      opener.start(admission, res, ex.responseHeaders);
    } catch (err) {
      // Nothing here is expected to throw; if it does, this request ends, not the process.
      deps.log.error({ err }, 'stream start failed');
      admission.slot.release();
      res.destroy();
    }
  };
}

/** A request that announces a body: the chain answers it (and closes the connection unread). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}
