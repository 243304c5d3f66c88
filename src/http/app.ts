import Koa from 'koa';
import Router from 'koa-router';
import { hostCheck } from './client';
import type { Deps } from './deps';
import { errorMiddleware } from './errors';
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
  app.use(errorMiddleware(deps.log, deps.metrics));
  app.use(hostCheck(deps.config));
  app.use(methodsMiddleware(router));
  app.use(headOfLongLived(deps.config));
  app.use(router.routes());
  return app;
}
