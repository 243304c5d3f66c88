import type Koa from 'koa';
import { PushframeError, isPushframeError } from '../errors';
import { BrokerUnavailableError } from '../brokers';
import type { Logger } from '../log';

/**
 * Every error before a response's first byte becomes `{ "error": { "code", "message" } }`
 * with its status. Unknown errors are logged and answered as `internal` without detail.
 */
export function errorMiddleware(log: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false) throw new PushframeError('not_found');
    } catch (raw) {
      const err = toPushframeError(raw);
      if (err.code === 'internal') log.error({ err: raw, path: ctx.path }, 'request failed');
      if (ctx.headerSent || ctx.respond === false) return;
      ctx.status = err.status;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = err.toJSON();
      // An oversize body was left unread: do not keep the connection for another request.
      if (err.code === 'body_too_large') ctx.set('Connection', 'close');
    }
  };
}

/** Any thrown value as a catalogue error (unknown ones become `internal`). */
export function toPushframeError(err: unknown): PushframeError {
  if (isPushframeError(err)) return err;
  if (err instanceof BrokerUnavailableError) return new PushframeError('broker_unavailable', err.message);
  const status = (err as { status?: unknown })?.status;
  if (status === 405) return new PushframeError('method_not_allowed');
  if (status === 404) return new PushframeError('not_found');
  if (typeof status === 'number' && status >= 400 && status < 500) return new PushframeError('bad_request');
  return new PushframeError('internal');
}
