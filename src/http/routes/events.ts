import type Router from 'koa-router';
import { PushframeError, isPushframeError } from '../../errors';
import { StreamConnection, sseFormat, ssePreamble } from '../../transports';
import { corsHeaders, preflightHeaders } from '../cors';
import type { Deps } from '../deps';
import { releaseKoaContext } from '../detach';
import { SSE_HEADERS } from '../headers';
import { parsePatterns, parseResumeCursor, single, type Query } from '../query';

/**
 * `GET {prefix}/events?channels=…[&since=…]`: server-sent events (docs/fallbacks.md).
 * `Last-Event-ID` (sent by EventSource when it reconnects) wins over `since`, which
 * still names the cursor the page started with.
 */
export function eventsRoutes(router: Router, deps: Deps): void {
  const { config, hub, connections, log } = deps;
  const options = {
    heartbeatMs: config.heartbeatMs,
    maxStreamBytes: config.maxStreamBytes,
    maxBufferedBytes: config.maxBufferedBytes,
  };
  const path = config.prefix + '/events';

  router.get(path, (ctx) => {
    const cors = corsHeaders(ctx.get('origin') || undefined, config.allowedOrigins);
    ctx.set(cors);
    if (deps.draining.value) throw new PushframeError('shutting_down');
    const query = ctx.query as Query;
    const patterns = parsePatterns(query, config.maxChannels);
    const lastEventId = ctx.get('last-event-id');
    const cursor = lastEventId
      ? parseResumeCursor(lastEventId, 'The Last-Event-ID cursor')
      : parseResumeCursor(single(query, 'since'), 'The "since" cursor');
    if (connections.size >= config.maxConnections) throw new PushframeError('too_many_connections');

    // As for the forever frame: the connection owns the raw response from here on.
    ctx.respond = false;
    const res = ctx.res;
    releaseKoaContext(res);
    res.writeHead(200, { ...SSE_HEADERS, ...cors });
    res.socket?.setNoDelay(true);
    const conn = new StreamConnection(res, sseFormat(config.heartbeatMs), options, connections.tally('sse'), (c) => {
      connections.delete(c);
      hub.unsubscribe(c);
    });
    connections.add(conn);
    conn.start(ssePreamble());
    hub.subscribe(conn, patterns, cursor).catch((err: unknown) => {
      if (!isPushframeError(err)) log.error({ err }, 'event stream subscription failed');
      const e = isPushframeError(err) ? err : new PushframeError('internal');
      conn.fail(e.code, e.message);
    });
  });

  router.options(path, (ctx) => {
    ctx.set(preflightHeaders(ctx.get('origin') || undefined, config.allowedOrigins));
    ctx.status = 204;
  });
}
