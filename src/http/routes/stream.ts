import type Router from 'koa-router';
import { PushframeError, isPushframeError } from '../../errors';
import { PREAMBLE_MIN_BYTES, padPreamble } from '../../protocol';
import { StreamConnection, foreverFrameFormat } from '../../transports';
import type { Deps } from '../deps';
import { releaseKoaContext } from '../detach';
import { STREAM_HEADERS } from '../headers';
import { parsePatterns, parseSince, single, type Query } from '../query';

const FRAME_ID = /^[A-Za-z0-9_]{1,32}$/;
const HOSTNAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/** `GET {prefix}/stream`: the iframe / htmlfile forever frame (docs/protocol.md). */
export function streamRoutes(router: Router, deps: Deps): void {
  const { config, hub, connections, views, log } = deps;
  const formats = {
    iframe: foreverFrameFormat('iframe', config.heartbeatMs),
    htmlfile: foreverFrameFormat('htmlfile', config.heartbeatMs),
  };
  const options = {
    heartbeatMs: config.heartbeatMs,
    maxStreamBytes: config.maxStreamBytes,
    maxBufferedBytes: config.maxBufferedBytes,
  };

  router.get(config.prefix + '/stream', (ctx) => {
    if (deps.draining.value) throw new PushframeError('shutting_down');
    const query = ctx.query as Query;
    const patterns = parsePatterns(query, config.maxChannels);
    const cursor = parseSince(query);
    const t = single(query, 't') ?? 'iframe';
    if (t !== 'iframe' && t !== 'htmlfile') throw new PushframeError('bad_request', 'The "t" parameter is "iframe" or "htmlfile".');
    const frame = single(query, 'f') ?? '0';
    if (!FRAME_ID.test(frame)) throw new PushframeError('bad_request', 'The "f" parameter is 1-32 characters of [A-Za-z0-9_].');
    const origin = single(query, 'origin');
    if (origin !== undefined && !originAllowed(origin, config.allowedOrigins)) throw new PushframeError('bad_origin');
    const domain = single(query, 'd');
    if (domain !== undefined && !domainAllowed(domain, ctx.hostname)) {
      throw new PushframeError('bad_request', 'The "d" parameter must be the stream host name or a parent domain of it.');
    }
    if (connections.size >= config.maxConnections) throw new PushframeError('too_many_connections');

    const preamble = padPreamble(views.render('stream.njk', { frame, origin, domain }), PREAMBLE_MIN_BYTES);

    // From here on Koa is out of the way: the connection owns the raw response, and
    // nothing keeps the Koa context alive for the life of the stream.
    ctx.respond = false;
    const res = ctx.res;
    releaseKoaContext(res);
    res.writeHead(200, STREAM_HEADERS);
    res.socket?.setNoDelay(true);
    const format = formats[t];
    const conn = new StreamConnection(res, format, options, connections.tally(format.name), (c) => {
      connections.delete(c);
      hub.unsubscribe(c);
    });
    connections.add(conn);
    conn.start(preamble);
    hub.subscribe(conn, patterns, cursor).catch((err: unknown) => {
      if (!isPushframeError(err)) log.error({ err }, 'stream subscription failed');
      const e = isPushframeError(err) ? err : new PushframeError('internal');
      conn.fail(e.code, e.message);
    });
  });
}

export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(origin)) return false;
  return allowed.includes('*') || allowed.includes(origin);
}

/** The legacy document.domain path: only the request's host or one of its parents. */
function domainAllowed(domain: string, host: string): boolean {
  if (!HOSTNAME.test(domain) || domain.indexOf('.') === -1) return false;
  return host === domain || host.endsWith('.' + domain);
}
