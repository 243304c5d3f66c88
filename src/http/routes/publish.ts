import type Router from 'koa-router';
import { timingSafeEqual } from 'node:crypto';
import { PushframeError, isPushframeError } from '../../errors';
import { isChannel, scriptJson } from '../../protocol';
import { readBody } from '../body';
import type { Deps } from '../deps';
import { clientIp } from '../limits';
import { queryOf } from '../query';

/** Room for JSON whitespace around a message of the maximum size. */
const BODY_SLACK = 1024;

/**
 * `POST {prefix}/publish/<channel>`: the body is the message data as JSON. Only JSON
 * content types are accepted: an HTML form cannot send one cross-site without a CORS
 * preflight, so a page on another site cannot publish through a visitor's browser.
 */
export function publishRoutes(router: Router, deps: Deps): void {
  const { config, hub, publishBuckets, metrics } = deps;
  router.post(config.prefix + '/publish/*channel', async (ctx) => {
    const started = process.hrtime.bigint();
    if (config.publishKey && !bearerMatches(ctx.get('authorization'), config.publishKey)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="pushframe"');
      throw new PushframeError('unauthorized');
    }
    if (publishBuckets) {
      // Per client address, checked after the key so strangers cannot use up a publisher's budget.
      const waitMs = publishBuckets.take(clientIp(ctx.req.socket.remoteAddress), Date.now());
      if (waitMs > 0) {
        ctx.set('Retry-After', String(Math.ceil(waitMs / 1000)));
        // The body is left unread: close rather than parse it for the next request.
        ctx.set('Connection', 'close');
        throw new PushframeError('rate_limited', `At most ${config.publishRate} publishes per second; retry in ${waitMs} ms.`);
      }
    }
    const channel = ctx.params.channel;
    if (!isChannel(channel)) throw new PushframeError('bad_channel');
    // The server's own figures must not be forged by anyone holding the publish key.
    if (channel.startsWith('_sys/')) throw new PushframeError('reserved_channel');
    if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(ctx.get('content-type'))) {
      throw new PushframeError('unsupported_media_type');
    }
    const text = await readBody(ctx.req, config.maxMessageBytes + BODY_SLACK, config.headersTimeoutMs);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new PushframeError('bad_json', 'The body is not valid JSON.');
    }
    const keyParam = queryOf(ctx).key;
    const key = typeof keyParam === 'string' && keyParam !== '' ? keyParam : undefined;
    if (key !== undefined && key.length > 200) throw new PushframeError('bad_request', 'The "key" parameter is at most 200 characters.');
    let json: string;
    try {
      json = scriptJson(data);
    } catch {
      // JSON.parse takes nesting that JSON.stringify's recursion cannot: refuse, do not crash.
      throw new PushframeError('bad_json', 'The JSON is nested too deeply.');
    }
    let id: string;
    try {
      id = await hub.publishJson(channel, json, key === undefined ? undefined : { key });
    } catch (err) {
      // Refusals (size, channel) are counted as such; this times the broker failing.
      if (!isPushframeError(err)) metrics.observePublish(seconds(started), false);
      throw err;
    }
    metrics.observePublish(seconds(started), true);
    ctx.status = 202;
    ctx.body = { id };
  });
}

function bearerMatches(header: string, key: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const given = Buffer.from(m[1]);
  const want = Buffer.from(key);
  return given.length === want.length && timingSafeEqual(given, want);
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}
