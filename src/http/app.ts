import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';
import Router from 'koa-router';
import { PushframeError } from '../errors';
import { hostCheck } from './client';
import type { Deps } from './deps';
import { errorMiddleware } from './errors';
import { queryBounds } from './query';
import { bridgeRoutes } from './routes/bridge';
import { demoRoutes } from './routes/demo';
import { eventsRoutes } from './routes/events';
import { headOfLongLived, methodsMiddleware } from './methods';
import { hostOpsRoutes, statsRoutes } from './routes/ops';
import { pollRoutes } from './routes/poll';
import { publishRoutes } from './routes/publish';
import { streamOpener, streamRoutes } from './routes/stream';
import { streamFastPath } from './stream-fast-path';

/** What pushframe's own server adds besides the prefix: health, metrics, the demo at `/`. */
export interface HostRoutes {
  ops: boolean;
  demo: boolean;
}

/** A node:http / Express / Connect request handler. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** Whether `path` is one of pushframe's: the prefix itself or below it. */
export function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '/');
}

/** Every route under the prefix: streams, polls, events, publish, stats, the bridge. */
function prefixRouter(deps: Deps): Router {
  const router = new Router();
  streamRoutes(router, deps);
  pollRoutes(router, deps);
  eventsRoutes(router, deps);
  publishRoutes(router, deps);
  statsRoutes(router, deps);
  bridgeRoutes(router, deps);
  return router;
}

/** The Koa app: validation and wiring only; the transports do the streaming. */
export function createApp(deps: Deps, host: HostRoutes = { ops: false, demo: false }): Koa {
  const app = new Koa();
  // Koa would log every error to stderr; the error middleware logs what matters.
  app.silent = true;
  app.on('error', (err: unknown) => deps.log.debug({ err }, 'koa error'));
  const router = prefixRouter(deps);
  if (host.ops) hostOpsRoutes(router, deps);
  if (host.demo) demoRoutes(router, deps);
  for (const middleware of requestChain(deps, router)) app.use(middleware);
  return app;
}

/** What every request to pushframe passes through, in order, ending in its routes. */
function requestChain(deps: Deps, router: Router): Koa.Middleware[] {
  return [
    closeUnreadBodies,
    errorMiddleware(deps.log, deps.metrics),
    // Before any route (or an application's own middleware) parses the query.
    queryBounds(deps.config.maxHeaderBytes),
    hostCheck(deps.config),
    methodsMiddleware(router),
    headOfLongLived(deps.config),
    router.routes() as Koa.Middleware,
  ];
}

/**
 * Koa middleware for an application's own app: requests under the prefix are answered
 * (errors included, as pushframe's JSON), everything else goes to `next()` untouched.
 */
export function koaMiddleware(deps: Deps): Koa.Middleware {
  // The same chain as pushframe's own app, run only for paths under the prefix.
  const chain = requestChain(deps, prefixRouter(deps));
  const run = (ctx: Koa.Context, i: number): Promise<void> =>
    i < chain.length ? Promise.resolve(chain[i](ctx, () => run(ctx, i + 1))) : Promise.resolve();
  return (ctx, next) => (underPrefix(ctx.path, deps.config.prefix) ? run(ctx, 0) : next());
}

/**
 * A `(req, res, next?)` handler: pushframe's requests go to its own Koa app; others to
 * `next()`, or a JSON 404 when there is none (a bare node:http server).
 */
export function nodeHandler(deps: Deps): NodeHandler {
  const callback = streamFastPath(deps, streamOpener(deps), createApp(deps).callback());
  return (req, res, next) => {
    // Express strips a mount path from req.url; originalUrl keeps what the client sent.
    const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl;
    const url = original ?? req.url ?? '/';
    const q = url.indexOf('?');
    if (underPrefix(q === -1 ? url : url.slice(0, q), deps.config.prefix)) {
      req.url = url;
      callback(req, res);
      return;
    }
    if (next) return next();
    const body = JSON.stringify(new PushframeError('not_found').toJSON());
    res.writeHead(404, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(body);
  };
}

/**
 * A response sent before its request body was read (a refused publish, a GET with a body)
 * closes the connection: keeping it alive would have Node read and discard the body for
 * as long as the client sends one, an endless or trickled body holding its socket forever.
 */
const closeUnreadBodies: Koa.Middleware = async (ctx, next) => {
  try {
    await next();
  } finally {
    if (!ctx.req.complete && ctx.respond !== false) ctx.set('Connection', 'close');
  }
};
