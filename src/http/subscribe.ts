import type Koa from 'koa';
import { GrantError, firstUncovered, privatePatterns, verifyGrant } from '../auth';
import type { Config } from '../config';
import { PushframeError } from '../errors';
import type { Cursor } from '../protocol';
import type { Deps } from './deps';
import { clientIp } from './limits';
import { checkOriginHeader } from './origins';
import { parsePatterns, parseSince, single, type Query } from './query';

export interface Subscription {
  patterns: string[];
  cursor: Cursor | undefined;
  /** A permitted cross-origin `Origin` header, to echo in CORS headers. */
  corsOrigin: string | undefined;
}

/**
 * What every subscribing endpoint (stream, poll, events) checks before its first byte:
 * the `Origin` header, the channel patterns, the resume cursor and, for private
 * channels, the grant in `token=`.
 */
export function readSubscription(ctx: Koa.Context, config: Config, now: number = Date.now()): Subscription {
  const query = ctx.query as Query;
  const corsOrigin = checkOriginHeader(ctx, config.allowedOrigins);
  const patterns = parsePatterns(query, config.maxChannels);
  const cursor = parseSince(query);
  authorize(patterns, single(query, 'token'), config, now);
  return { patterns, cursor, corsOrigin };
}

/** Throws `bad_grant` unless every pattern touching a private channel is covered by the grant. */
export function authorize(patterns: readonly string[], token: string | undefined, config: Config, now: number): void {
  const needed = privatePatterns(patterns, config.privateChannels);
  if (needed.length === 0) return;
  if (!token) throw new PushframeError('bad_grant', `"${needed[0]}" is private: a grant (token=) is required.`);
  let granted: string[];
  try {
    granted = verifyGrant(config.secret, token, now).patterns;
  } catch (err) {
    if (err instanceof GrantError) throw new PushframeError('bad_grant', err.message);
    throw err;
  }
  const refused = firstUncovered(needed, granted);
  if (refused !== null) throw new PushframeError('bad_grant', `The grant does not cover "${refused}".`);
}

/**
 * Takes a connection slot for a long-lived request (draining, total and per-IP limits).
 * Call it last, after every other check; call the returned release when the response ends.
 */
export function admitConnection(ctx: Koa.Context, deps: Deps): () => void {
  if (deps.draining.value) throw new PushframeError('shutting_down');
  return deps.limits.enter(clientIp(ctx.req.socket.remoteAddress));
}
