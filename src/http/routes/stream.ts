import type { ServerResponse } from 'node:http';
import type Router from 'koa-router';
import { PushframeError } from '../../errors';
import { toPushframeError } from '../errors';
import { PREAMBLE_MIN_BYTES, padPreamble } from '../../protocol';
import { ChunkedSocketSink, StreamConnection, foreverFrameFormat } from '../../transports';
import type { Deps } from '../deps';
import { releaseKoaContext } from '../detach';
import { STREAM_HEADERS, closesAfterResponse } from '../headers';
import { fixedHeaders, writeHeadWith, type FixedHeaders } from '../fixed-head';
import { parseNonce, streamPolicy } from '../csp';
import { client, hostName } from '../client';
import { framingPolicy, legacyFramingHeader, originAllowed } from '../origins';
import { single, queryOf } from '../query';
import { admitHeld, readSubscription, watchGrantExpiry, type HeldSlot } from '../subscribe';
import type { Exchange } from '../exchange';
import type { Cursor } from '../../protocol';
import { SUBSCRIBED } from '../../hub';

const FRAME_ID = /^[A-Za-z0-9_]{1,32}$/;
/** Rendered openings kept; pages reuse a handful of frame ids and origins. */
const OPENING_CACHE_SIZE = 512;
const HOSTNAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/** A stream request that passed every check and holds its connection slot. */
export interface StreamAdmission {
  readonly patterns: readonly string[];
  readonly cursor: Cursor | undefined;
  readonly grantExpiresAt: number | undefined;
  readonly transport: 'iframe' | 'htmlfile';
  readonly nonce: string | undefined;
  readonly ip: string;
  readonly opening: Opening;
  readonly slot: HeldSlot;
}

/** What a stream's first write depends on besides its subscription: rendered once per combination. */
interface Opening {
  readonly preamble: string;
  readonly headers: FixedHeaders;
}

/** Opening a forever-frame stream, in two steps: the checks, then the response. */
export interface StreamOpener {
  /** Every check of a stream request, in order, ending with its connection slot; throws the refusal. */
  admit(ex: Exchange): StreamAdmission;
  /**
   * Sends the head and starts the stream on `res`; the subscription follows.
   * `setHeaders`: response headers the checks set but did not put on `res` (a bare
   * Exchange's), as a list: name, value, ...
   */
  start(admission: StreamAdmission, res: ServerResponse, setHeaders?: readonly string[] | null): void;
}

const openers = new WeakMap<Deps, StreamOpener>();

/** The stream endpoint's work (docs/protocol.md), for the route below and the fast path (stream-fast-path.ts); one per wiring. */
export function streamOpener(deps: Deps): StreamOpener {
  let opener = openers.get(deps);
  if (!opener) openers.set(deps, (opener = makeStreamOpener(deps)));
  return opener;
}

function makeStreamOpener(deps: Deps): StreamOpener {
  const { config, hub, connections, views, log } = deps;
  const formats = {
    iframe: foreverFrameFormat('iframe', config.heartbeatMs),
    htmlfile: foreverFrameFormat('htmlfile', config.heartbeatMs),
  };
  // The preamble and headers depend only on these five values: each combination is
  // rendered once (a nonce is new on every page load, so those are not kept).
  const openings = new Map<string, Opening>();
  const openingFor = (t: string, frame: string, origin?: string, domain?: string, nonce?: string): Opening => {
    const key = nonce === undefined ? t + '|' + frame + '|' + (origin ?? '') + '|' + (domain ?? '') : null;
    let opening = key === null ? undefined : openings.get(key);
    if (opening === undefined) {
      opening = {
        preamble: padPreamble(views.render('stream.njk', { frame, origin, domain, nonce }), PREAMBLE_MIN_BYTES),
        headers: fixedHeaders({
          ...STREAM_HEADERS,
          'Content-Security-Policy': streamPolicy(framingPolicy(origin), nonce),
          ...legacyFramingHeader(origin, t),
        }),
      };
      if (key !== null) {
        if (openings.size >= OPENING_CACHE_SIZE) openings.delete(openings.keys().next().value as string);
        openings.set(key, opening);
      }
    }
    return opening;
  };
  const options = {
    heartbeatMs: config.heartbeatMs,
    maxStreamBytes: config.maxStreamBytes,
    maxBufferedBytes: config.maxBufferedBytes,
  };

  const admit = (ex: Exchange): StreamAdmission => {
    const query = queryOf(ex);
    const { patterns, cursor, grantExpiresAt } = readSubscription(ex, config);
    const t = single(query, 't') ?? 'iframe';
    if (t !== 'iframe' && t !== 'htmlfile') throw new PushframeError('bad_request', 'The "t" parameter is "iframe" or "htmlfile".');
    const frame = single(query, 'f') ?? '0';
    if (!FRAME_ID.test(frame)) throw new PushframeError('bad_request', 'The "f" parameter is 1-32 characters of [A-Za-z0-9_].');
    const origin = single(query, 'origin');
    if (origin !== undefined && !originAllowed(origin, config.allowedOrigins)) throw new PushframeError('bad_origin');
    const domain = single(query, 'd');
    const info = client(ex, config);
    if (domain !== undefined && !domainAllowed(domain, hostName(info.host))) {
      throw new PushframeError('bad_request', 'The "d" parameter must be the stream host name or a parent domain of it.');
    }
    const nonce = parseNonce(single(query, 'nonce'));
    const slot = admitHeld(ex, deps);
    let opening: Opening;
    try {
      opening = openingFor(t, frame, origin, domain, nonce);
    } catch (err) {
      slot.release();
      throw err;
    }
    return { patterns, cursor, grantExpiresAt, transport: t, nonce, ip: info.ip, opening, slot };
  };

  const start = (admission: StreamAdmission, res: ServerResponse, setHeaders?: readonly string[] | null): void => {
    const { patterns, cursor, grantExpiresAt, nonce, ip, slot } = admission;
    closesAfterResponse(res);
    writeHeadWith(res, 200, admission.opening.headers, setHeaders ?? null);
    res.socket?.setNoDelay(true);
    const format = formats[admission.transport];
    const opts = nonce === undefined ? options : { ...options, scriptTag: `<script nonce="${nonce}">` };
    let stopWatch = (): void => undefined;
    const conn = new StreamConnection(ChunkedSocketSink.over(res), format, opts, connections.tally(format.name), (c) => {
      connections.delete(c);
      hub.unsubscribe(c);
      slot.release();
      stopWatch();
      log.debug({ transport: format.name, ip }, 'stream closed');
    });
    connections.add(conn);
    conn.replaceToken = slot.replaceable(conn);
    stopWatch = watchGrantExpiry(grantExpiresAt, () => conn.fail('bad_grant', 'The grant has expired; reload the page for a new one.'));
    log.debug({ transport: format.name, ip, channels: patterns.length }, 'stream opened');
    conn.start(admission.opening.preamble);
    const subscribed = hub.subscribe(conn, patterns, cursor);
    // Over the browser's budget: the open frame and backlog, then come back later.
    const afterOpen = (): void => {
      if (slot.capped) conn.reconnect(config.cappedPollMs, 'recycle');
    };
    if (subscribed === SUBSCRIBED) return afterOpen();
    subscribed.then(afterOpen, (err: unknown) => {
      // Past the first byte: the error becomes a p.e frame and the stream ends.
      const e = toPushframeError(err);
      if (e.code === 'internal') log.error({ err }, 'stream subscription failed');
      else log.debug({ code: e.code }, 'stream subscription failed');
      conn.fail(e.code, e.message);
    });
  };

  return { admit, start };
}

/** `GET {prefix}/stream`: the iframe / htmlfile forever frame. */
export function streamRoutes(router: Router, deps: Deps): void {
  const opener = streamOpener(deps);
  router.get(deps.config.prefix + '/stream', (ctx) => {
    const admission = opener.admit(ctx);
    // From here on Koa is out of the way: the connection owns the raw response, and
    // nothing keeps the Koa context alive for the life of the stream.
    ctx.respond = false;
    releaseKoaContext(ctx.res);
    opener.start(admission, ctx.res);
  });
}

/** The legacy document.domain path: only the request's host or one of its parents. */
function domainAllowed(domain: string, host: string): boolean {
  if (!HOSTNAME.test(domain) || domain.indexOf('.') === -1) return false;
  return host === domain || host.endsWith('.' + domain);
}
