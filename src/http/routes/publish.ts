import type Router from 'koa-router';
import { PushframeError, isPushframeError } from '../../errors';
import { isChannel, serializeData, type SerializedData } from '../../protocol';
import { readBody } from '../body';
import type { Deps } from '../deps';
import { requirePublishRights } from '../publishing';
import { queryOf } from '../query';

/** Room for JSON whitespace around a message of the maximum size. */
const BODY_SLACK = 1024;

/**
 * `POST {prefix}/publish/<channel>`: the body is the message data as JSON. Only JSON
 * content types are accepted: an HTML form cannot send one cross-site without a CORS
 * preflight, so a page on another site cannot publish through a visitor's browser.
 */
export function publishRoutes(router: Router, deps: Deps): void {
  const { config, hub, metrics } = deps;
  router.post(config.prefix + '/publish/*channel', async (ctx) => {
    const started = process.hrtime.bigint();
    requirePublishRights(ctx, deps);
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
    const keyParam = queryOf(ctx).get('key');
    const key = typeof keyParam === 'string' && keyParam !== '' ? keyParam : undefined;
    if (key !== undefined && key.length > 200) throw new PushframeError('bad_request', 'The "key" parameter is at most 200 characters.');
    let serialized: SerializedData;
    try {
      serialized = serializeData(data);
    } catch {
      // JSON.parse takes nesting that JSON.stringify's recursion cannot: refuse, do not crash.
      throw new PushframeError('bad_json', 'The JSON is nested too deeply.');
    }
    let id: string;
    try {
      id = await hub.publishJson(channel, serialized.json, key === undefined ? undefined : { key }, serialized.bytes);
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

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}
