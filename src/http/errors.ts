import type Koa from 'koa';
import { PushframeError, isPushframeError } from '../errors';
import { BrokerUnavailableError } from '../brokers';
import type { Logger } from '../log';
import { SSE_RETRY_MS, sseRefusal } from '../transports';
import { SSE_HEADERS } from './headers';
import type { Metrics } from './metrics';

const AS_EVENT = Symbol('pushframe.errorAsEvent');

/**
 * This request's refusal is answered as an event stream with one `fail` event (200):
 * EventSource reads nothing of an HTTP error, so a page would see a dropped connection
 * and retry, never learning that its channel or origin was refused.
 */
export function answerErrorAsEvent(ctx: Koa.Context): void {
  (ctx.state as { [AS_EVENT]?: boolean })[AS_EVENT] = true;
}

/**
 * Every error before a response's first byte becomes `{ "error": { "code", "message" } }`
 * with its status. Unknown errors are logged and answered as `internal` without detail.
 */
export function errorMiddleware(log: Logger, metrics: Metrics): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false) throw new PushframeError('not_found');
    } catch (raw) {
      const err = toPushframeError(raw);
      if (err.code === 'internal') log.error({ err: raw, path: ctx.path }, 'request failed');
      else log.debug({ code: err.code, path: ctx.path }, 'request refused');
      metrics.refused(err.code);
      if (ctx.headerSent || ctx.respond === false) return;
      if ((ctx.state as { [AS_EVENT]?: boolean })[AS_EVENT]) {
        // Busy or going away (429, 5xx): come back as Retry-After says; anything else is final.
        const retryable = err.status === 429 || err.status >= 500;
        const after = Number(ctx.response.get('Retry-After'));
        ctx.status = 200;
        ctx.set(SSE_HEADERS);
        ctx.body = sseRefusal(err.code, err.message, retryable ? (after > 0 ? after * 1000 : SSE_RETRY_MS) : null);
        return;
      }
      ctx.status = err.status;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = err.toJSON();
      // An oversize body was left unread: do not keep the connection for another request.
      if (err.code === 'body_too_large' || err.code === 'request_timeout') ctx.set('Connection', 'close');
    }
  };
}

/** Any thrown value as a catalogue error (unknown ones become `internal`, without detail). */
export function toPushframeError(err: unknown): PushframeError {
  if (isPushframeError(err)) return err;
  if (err instanceof BrokerUnavailableError) return new PushframeError('broker_unavailable', err.message);
  const status = (err as { status?: unknown })?.status;
  if (status === 405) return new PushframeError('method_not_allowed');
  if (status === 404) return new PushframeError('not_found');
  if (typeof status === 'number' && status >= 400 && status < 500) return new PushframeError('bad_request');
  return new PushframeError('internal');
}
