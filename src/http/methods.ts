import type Koa from 'koa';
import type Router from 'koa-router';
import { queryOf } from './query';
import type { Config } from '../config';
import { PushframeError } from '../errors';
import { POLL_JSONP_HEADERS, POLL_JSON_HEADERS, SSE_HEADERS, STREAM_HEADERS } from './headers';
import { readSubscription } from './subscribe';

/**
 * Methods any resource may be asked for: the wrong one on a known path is `405`. Any
 * other (TRACE, PROPFIND, CONNECT, …) is `501`, whatever the path: the server
 * implements it nowhere.
 */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const MAX_KNOWN_PATHS = 256;

/**
 * Answers requests no route will take before they reach one: `501` for unknown
 * methods, `405` for a known path with the wrong method, each with `Allow`; `OPTIONS`
 * on a path without its own handler gets `204` and `Allow`. Refusals are catalogue
 * errors (JSON body, logged at debug like every refusal), never internal errors.
 */
export function methodsMiddleware(router: Router): Koa.Middleware {
  const served = (): string[] => [...new Set(router.stack.flatMap((layer) => layer.methods))];
  // The methods of a path depend on the path alone: kept for the paths routes answer
  // (bounded: a route with parameters matches endlessly many).
  const known = new Map<string, string[]>();
  const allowedAt = (path: string): string[] => {
    let allowed = known.get(path);
    if (allowed === undefined) {
      allowed = [...new Set(router.match(path, 'GET').path.flatMap((layer) => layer.methods))];
      if (allowed.length > 0 && known.size < MAX_KNOWN_PATHS) known.set(path, allowed);
    }
    return allowed;
  };
  return (ctx, next) => {
    const allowed = allowedAt(ctx.path);
    if (!KNOWN_METHODS.has(ctx.method)) {
      ctx.set('Allow', (allowed.length > 0 ? allowed : served()).join(', '));
      throw new PushframeError('not_implemented', `The method ${ctx.method} is not implemented.`);
    }
    if (allowed.length === 0 || allowed.includes(ctx.method)) return next();
    ctx.set('Allow', allowed.join(', '));
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return undefined;
    }
    throw new PushframeError('method_not_allowed', `The method ${ctx.method} is not allowed here; allowed: ${allowed.join(', ')}.`);
  };
}

/**
 * `HEAD` on a long-lived endpoint (stream, poll, events): the headers a GET would get,
 * at once, after the same subscription checks, without subscribing or taking a
 * connection slot. Routed as a GET it would open a stream whose body is never sent.
 */
export function headOfLongLived(config: Config): Koa.Middleware {
  const headers: Record<string, Readonly<Record<string, string>>> = {
    [config.prefix + '/stream']: STREAM_HEADERS,
    [config.prefix + '/poll']: POLL_JSON_HEADERS,
    [config.prefix + '/events']: SSE_HEADERS,
  };
  return (ctx, next) => {
    if (ctx.method !== 'HEAD' || !Object.prototype.hasOwnProperty.call(headers, ctx.path)) return next();
    readSubscription(ctx, config);
    const jsonp = ctx.path === config.prefix + '/poll' && queryOf(ctx).has('callback');
    ctx.set(jsonp ? POLL_JSONP_HEADERS : headers[ctx.path]);
    ctx.status = 200;
    return undefined;
  };
}
