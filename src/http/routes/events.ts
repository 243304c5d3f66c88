import type Router from 'koa-router';

import { ChunkedSocketSink, StreamConnection, sseFormat, ssePreamble } from '../../transports';
import { corsHeaders, preflightHeaders } from '../cors';
import { answerErrorAsEvent, toPushframeError } from '../errors';
import type { Deps } from '../deps';
import { releaseKoaContext } from '../detach';
import { SSE_HEADERS, closesAfterResponse } from '../headers';
import { parseResumeCursor, single, queryOf } from '../query';
import { admitHeld, readSubscription, watchGrantExpiry } from '../subscribe';

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
    // EventSource asks for an event stream: a refusal reaches it as a `fail` event.
    if (ctx.get('accept').includes('text/event-stream')) answerErrorAsEvent(ctx);
    const query = queryOf(ctx);
    const lastEventId = ctx.get('last-event-id');
    // The same checks as every subscribing endpoint: origin, patterns, cursor, grants, limits.
    const { patterns, cursor, grantExpiresAt } = readSubscription(ctx, config, {
      parseCursor: () =>
        lastEventId
          ? parseResumeCursor(lastEventId, 'The Last-Event-ID cursor')
          : parseResumeCursor(single(query, 'since'), 'The "since" cursor'),
    });
    const slot = admitHeld(ctx, deps);

    // As for the forever frame: the connection owns the raw response from here on.
    ctx.respond = false;
    const res = ctx.res;
    releaseKoaContext(res);
    closesAfterResponse(res);
    res.writeHead(200, { ...SSE_HEADERS, ...cors });
    res.socket?.setNoDelay(true);
    let stopWatch = (): void => undefined;
    const conn = new StreamConnection(ChunkedSocketSink.over(res), sseFormat(config.heartbeatMs), options, connections.tally('sse'), (c) => {
      connections.delete(c);
      hub.unsubscribe(c);
      slot.release();
      stopWatch();
    });
    connections.add(conn);
    conn.replaceToken = slot.replaceable(conn);
    stopWatch = watchGrantExpiry(grantExpiresAt, () => conn.fail('bad_grant', 'The grant has expired; reload the page for a new one.'));
    conn.start(ssePreamble());
    hub.subscribe(conn, patterns, cursor).then(() => {
      if (slot.capped) conn.reconnect(config.cappedPollMs, 'recycle');
    }, (err: unknown) => {
      const e = toPushframeError(err);
      if (e.code === 'internal') log.error({ err }, 'event stream subscription failed');
      conn.fail(e.code, e.message);
    });
  });

  router.options(path, (ctx) => {
    ctx.set(preflightHeaders(ctx.get('origin') || undefined, config.allowedOrigins));
    ctx.status = 204;
  });
}
