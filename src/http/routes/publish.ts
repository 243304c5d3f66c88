import type Router from 'koa-router';
import { timingSafeEqual } from 'node:crypto';
import { PushframeError } from '../../errors';
import { isChannel, scriptJson } from '../../protocol';
import { readBody } from '../body';
import type { Deps } from '../deps';

/** Room for JSON whitespace around a message of the maximum size. */
const BODY_SLACK = 1024;

/**
 * `POST {prefix}/publish/<channel>`: the body is the message data as JSON. Only JSON
 * content types are accepted: an HTML form cannot send one cross-site without a CORS
 * preflight, so a page on another site cannot publish through a visitor's browser.
 */
export function publishRoutes(router: Router, deps: Deps): void {
  const { config, hub } = deps;
  router.post(config.prefix + '/publish/*channel', async (ctx) => {
    if (config.publishKey && !bearerMatches(ctx.get('authorization'), config.publishKey)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="pushframe"');
      throw new PushframeError('unauthorized');
    }
    const channel = ctx.params.channel;
    if (!isChannel(channel)) throw new PushframeError('bad_channel');
    // The server's own figures must not be forged by anyone holding the publish key.
    if (channel.startsWith('_sys/')) throw new PushframeError('reserved_channel');
    if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(ctx.get('content-type'))) {
      throw new PushframeError('unsupported_media_type');
    }
    const text = await readBody(ctx.req, config.maxMessageBytes + BODY_SLACK);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new PushframeError('bad_json', 'The body is not valid JSON.');
    }
    const keyParam = ctx.query.key;
    const key = typeof keyParam === 'string' && keyParam !== '' ? keyParam : undefined;
    if (key !== undefined && key.length > 200) throw new PushframeError('bad_request', 'The "key" parameter is at most 200 characters.');
    const id = await hub.publishJson(channel, scriptJson(data), key === undefined ? undefined : { key });
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
