import Koa from 'koa';
import Router from 'koa-router';
import { hostCheck } from './client';
import type { Deps } from './deps';
import { errorMiddleware } from './errors';
import { queryBounds } from './query';
import { demoRoutes } from './routes/demo';
import { eventsRoutes } from './routes/events';
import { headOfLongLived, methodsMiddleware } from './methods';
import { opsRoutes } from './routes/ops';
import { pollRoutes } from './routes/poll';
import { publishRoutes } from './routes/publish';
import { streamRoutes } from './routes/stream';

/** The Koa app: validation and wiring only; the transports do the streaming. */
export function createApp(deps: Deps): Koa {
  const app = new Koa();
  // Koa would log every error to stderr; the error middleware logs what matters.
  app.silent = true;
  app.on('error', (err: unknown) => deps.log.debug({ err }, 'koa error'));
  const router = new Router();
  streamRoutes(router, deps);
  pollRoutes(router, deps);
  eventsRoutes(router, deps);
  publishRoutes(router, deps);
  opsRoutes(router, deps);
  if (deps.config.demo) demoRoutes(router, deps);
  app.use(closeUnreadBodies);
  app.use(errorMiddleware(deps.log, deps.metrics));
  // Before any route (or an application's own middleware) parses the query.
  app.use(queryBounds(deps.config.maxHeaderBytes));
  app.use(hostCheck(deps.config));
  app.use(methodsMiddleware(router));
  app.use(headOfLongLived(deps.config));
  app.use(router.routes());
  return app;
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
