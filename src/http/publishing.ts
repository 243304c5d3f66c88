import type Koa from 'koa';
import { timingSafeEqual } from 'node:crypto';
import { PushframeError } from '../errors';
import type { Deps } from './deps';
import { client } from './client';

/**
 * The rules every way of publishing over HTTP obeys (the publish API and the demo's
 * form alike): the publish key when one is set, then the publish rate per client
 * address — after the key, so strangers cannot use up a publisher's budget.
 */
export function requirePublishRights(ctx: Koa.Context, deps: Pick<Deps, 'config' | 'publishBuckets'>): void {
  const { config, publishBuckets } = deps;
  if (config.publishKey && !bearerMatches(ctx.get('authorization'), config.publishKey)) {
    ctx.set('WWW-Authenticate', 'Bearer realm="pushframe"');
    throw new PushframeError('unauthorized');
  }
  if (!publishBuckets) return;
  const waitMs = publishBuckets.take(client(ctx, config).ip, Date.now());
  if (waitMs > 0) {
    ctx.set('Retry-After', String(Math.ceil(waitMs / 1000)));
    // The body is left unread: close rather than parse it for the next request.
    ctx.set('Connection', 'close');
    throw new PushframeError('rate_limited', `At most ${config.publishRate} publishes per second; retry in ${waitMs} ms.`);
  }
}

function bearerMatches(header: string, key: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const given = Buffer.from(m[1]);
  const want = Buffer.from(key);
  return given.length === want.length && timingSafeEqual(given, want);
}
