import type Koa from 'koa';
import type Router from 'koa-router';
import { PushframeError } from '../../errors';
import { scriptJson, type Cursor } from '../../protocol';
import { LongPoll, pollBody, type PollAnswer, type Tally } from '../../transports';
import { corsHeaders, preflightHeaders } from '../cors';
import type { Deps } from '../deps';
import { toPushframeError } from '../errors';
import { POLL_JSONP_HEADERS, POLL_JSON_HEADERS } from '../headers';
import { checkJsonpOrigin, jsonpCallbackGrammar } from '../jsonp';
import { single, queryOf } from '../query';
import { admitHeld, readSubscription, watchGrantExpiry } from '../subscribe';

/**
 * `GET {prefix}/poll?channels=…&since=…[&callback=name]` (docs/fallbacks.md): held until
 * messages wait or `pollTimeoutMs` passes, then answered with the next cursor. Without
 * `since` it answers at once with the current position, so a client learns where it
 * stands before anything can be missed.
 */
export function pollRoutes(router: Router, deps: Deps): void {
  const { config, hub, connections, log } = deps;
  // Looked up per request, like the streams' tallies: a transport nobody used stays out of the stats.
  const tally = (): Tally => connections.tally('longpoll');
  const path = config.prefix + '/poll';
  const callbackGrammar = jsonpCallbackGrammar(config.jsonpCallbacks);

  /** Resolves with the answer, or null when the client left first. */
  const hold = (
    ctx: Koa.Context,
    patterns: readonly string[],
    cursor: Cursor | undefined,
    since: string,
    grantExpiresAt: number | undefined,
    immediate: boolean,
    capped: boolean,
  ): Promise<PollAnswer | null> =>
    new Promise((resolve, reject) => {
      const res = ctx.res;
      let stopWatch = (): void => undefined;
      const cleanup = (): void => {
        res.removeListener('close', onClose);
        stopWatch();
        connections.delete(poll);
        hub.unsubscribe(poll);
      };
      const onClose = (): void => {
        poll.cancel();
        cleanup();
        resolve(null);
      };
      const poll = new LongPoll(
        { timeoutMs: config.pollTimeoutMs, immediate: immediate || capped, since, maxBytes: config.maxBufferedBytes },
        tally(),
        (answer) => {
          cleanup();
          // Over the browser's budget: answered at once, and the next poll waits.
          resolve(capped && answer.reconnectMs === undefined ? { ...answer, reconnectMs: config.cappedPollMs } : answer);
        },
      );
      res.on('close', onClose);
      connections.add(poll);
      // A held poll ends when its grant does, like a stream: no private data after that.
      stopWatch = watchGrantExpiry(grantExpiresAt, () => {
        poll.cancel();
        cleanup();
        reject(grantExpired());
      });
      hub.subscribe(poll, patterns, cursor).catch((err: unknown) => {
        poll.cancel();
        cleanup();
        reject(err);
      });
    });

  router.get(path, async (ctx) => {
    const query = queryOf(ctx);
    const callback = single(query, 'callback');
    // Checked first, and before anything is echoed: a bad name is answered as JSON.
    if (callback !== undefined && !callbackGrammar.test(callback)) throw new PushframeError('bad_callback');
    const cors = callback === undefined ? corsHeaders(ctx.get('origin') || undefined, config.allowedOrigins) : {};
    let body: string;
    try {
      // A <script> sends no Origin header: JSONP has its own origin check.
      if (callback !== undefined) checkJsonpOrigin(ctx, config);
      // The same checks as every subscribing endpoint: origin, patterns, cursor, grants, limits.
      const { patterns, cursor, grantExpiresAt } = readSubscription(ctx, config);
      const slot = admitHeld(ctx, deps);
      let answer: PollAnswer | null;
      try {
        // Without a cursor, or with `open=1` (a client's first poll: its open), at once.
        const immediate = cursor === undefined || single(query, 'open') === '1';
        answer = await hold(ctx, patterns, cursor, single(query, 'since') ?? '', grantExpiresAt, immediate, slot.capped);
      } finally {
        slot.release();
      }
      if (answer === null) {
        ctx.respond = false; // the client is gone; nothing to write to
        return;
      }
      // An answer gathered in the same turn as the expiry is not sent either.
      if (grantExpiresAt !== undefined && Date.now() >= grantExpiresAt) throw grantExpired();
      body = pollBody(answer, callback !== undefined);
      tally().bytes += body.length;
    } catch (raw) {
      if (callback === undefined) {
        ctx.set(cors);
        throw raw;
      }
      // A browser runs no script from an error status, so JSONP errors come as a call
      // with `{ "error": { code, message } }` and status 200.
      const err = toPushframeError(raw);
      if (err.code === 'internal') log.error({ err: raw, path: ctx.path }, 'poll failed');
      body = scriptJson(err.toJSON());
    }
    if (callback === undefined) {
      ctx.set({ ...POLL_JSON_HEADERS, ...cors });
      ctx.body = body;
    } else {
      ctx.set(POLL_JSONP_HEADERS);
      // The leading comment keeps a response starting with the callback name from being
      // read as something else (the Rosetta Flash class of attacks).
      ctx.body = '/**/' + callback + '(' + body + ');';
    }
  });

  router.options(path, (ctx) => {
    ctx.set(preflightHeaders(ctx.get('origin') || undefined, config.allowedOrigins));
    ctx.status = 204;
  });
}

function grantExpired(): PushframeError {
  return new PushframeError('bad_grant', 'The grant has expired; reload the page for a new one.');
}
