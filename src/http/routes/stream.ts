import type Router from 'koa-router';
import { PushframeError } from '../../errors';
import { toPushframeError } from '../errors';
import { PREAMBLE_MIN_BYTES, padPreamble } from '../../protocol';
import { ChunkedSocketSink, StreamConnection, foreverFrameFormat } from '../../transports';
import type { Deps } from '../deps';
import { releaseKoaContext } from '../detach';
import { STREAM_HEADERS } from '../headers';
import { parseNonce, streamPolicy } from '../csp';
import { client, hostName } from '../client';
import { framingPolicy, legacyFramingHeader, originAllowed } from '../origins';
import { single, queryOf } from '../query';
import { admitHeld, readSubscription, watchGrantExpiry } from '../subscribe';

const FRAME_ID = /^[A-Za-z0-9_]{1,32}$/;
/** Rendered preambles kept; pages reuse a handful of frame ids and origins. */
const PREAMBLE_CACHE_SIZE = 512;
const HOSTNAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/** `GET {prefix}/stream`: the iframe / htmlfile forever frame (docs/protocol.md). */
export function streamRoutes(router: Router, deps: Deps): void {
  const { config, hub, connections, views, log } = deps;
  const formats = {
    iframe: foreverFrameFormat('iframe', config.heartbeatMs),
    htmlfile: foreverFrameFormat('htmlfile', config.heartbeatMs),
  };
  // A preamble depends only on these four values: render each combination once.
  const preambles = new Map<string, string>();
  const preambleFor = (frame: string, origin?: string, domain?: string, nonce?: string): string => {
    const key = frame + '|' + (origin ?? '') + '|' + (domain ?? '') + '|' + (nonce ?? '');
    let html = preambles.get(key);
    if (html === undefined) {
      html = padPreamble(views.render('stream.njk', { frame, origin, domain, nonce }), PREAMBLE_MIN_BYTES);
      if (preambles.size >= PREAMBLE_CACHE_SIZE) preambles.delete(preambles.keys().next().value as string);
      preambles.set(key, html);
    }
    return html;
  };
  const options = {
    heartbeatMs: config.heartbeatMs,
    maxStreamBytes: config.maxStreamBytes,
    maxBufferedBytes: config.maxBufferedBytes,
  };

  router.get(config.prefix + '/stream', (ctx) => {
    const query = queryOf(ctx);
    const { patterns, cursor, grantExpiresAt } = readSubscription(ctx, config);
    const t = single(query, 't') ?? 'iframe';
    if (t !== 'iframe' && t !== 'htmlfile') throw new PushframeError('bad_request', 'The "t" parameter is "iframe" or "htmlfile".');
    const frame = single(query, 'f') ?? '0';
    if (!FRAME_ID.test(frame)) throw new PushframeError('bad_request', 'The "f" parameter is 1-32 characters of [A-Za-z0-9_].');
    const origin = single(query, 'origin');
    if (origin !== undefined && !originAllowed(origin, config.allowedOrigins)) throw new PushframeError('bad_origin');
    const domain = single(query, 'd');
    if (domain !== undefined && !domainAllowed(domain, hostName(client(ctx, config).host))) {
      throw new PushframeError('bad_request', 'The "d" parameter must be the stream host name or a parent domain of it.');
    }
    const nonce = parseNonce(single(query, 'nonce'));
    const slot = admitHeld(ctx, deps);

    let preamble: string;
    try {
      preamble = preambleFor(frame, origin, domain, nonce);
    } catch (err) {
      slot.release();
      throw err;
    }

    // From here on Koa is out of the way: the connection owns the raw response, and
    // nothing keeps the Koa context alive for the life of the stream.
    ctx.respond = false;
    const res = ctx.res;
    releaseKoaContext(res);
    res.writeHead(200, {
      ...STREAM_HEADERS,
      'Content-Security-Policy': streamPolicy(framingPolicy(origin), nonce),
      ...legacyFramingHeader(origin, t),
    });
    res.socket?.setNoDelay(true);
    const format = formats[t];
    const opts = nonce === undefined ? options : { ...options, scriptTag: `<script nonce="${nonce}">` };
    const ip = client(ctx, config).ip;
    let stopWatch = (): void => undefined;
    const conn = new StreamConnection(ChunkedSocketSink.over(res), format, opts, connections.tally(format.name), (c) => {
      connections.delete(c);
      hub.unsubscribe(c);
      slot.release();
      stopWatch();
      log.debug({ transport: format.name, ip }, 'stream closed');
    });
    connections.add(conn);
    stopWatch = watchGrantExpiry(grantExpiresAt, () => conn.fail('bad_grant', 'The grant has expired; reload the page for a new one.'));
    log.debug({ transport: format.name, ip, channels: patterns.length }, 'stream opened');
    conn.start(preamble);
    hub.subscribe(conn, patterns, cursor).then(() => {
      // Over the browser's budget: the open frame and backlog, then come back later.
      if (slot.capped) conn.reconnect(config.cappedPollMs, 'recycle');
    }, (err: unknown) => {
      // Past the first byte: the error becomes a p.e frame and the stream ends.
      const e = toPushframeError(err);
      if (e.code === 'internal') log.error({ err }, 'stream subscription failed');
      else log.debug({ code: e.code }, 'stream subscription failed');
      conn.fail(e.code, e.message);
    });
  });
}


/** The legacy document.domain path: only the request's host or one of its parents. */
function domainAllowed(domain: string, host: string): boolean {
  if (!HOSTNAME.test(domain) || domain.indexOf('.') === -1) return false;
  return host === domain || host.endsWith('.' + domain);
}
