import type { ServerResponse } from 'node:http';

interface FinishedListener {
  queue?: unknown[] | null;
}

/**
 * Lets go of Koa's per-request objects for a response that outlives the request
 * handler (a stream). Koa registers `err => ctx.onerror(err)` with `on-finished` for
 * every response, which keeps the whole context (request, response, state, router
 * match) alive until the response ends: hours, for a stream. With `ctx.respond =
 * false` that callback has nothing left to do, so its queue is emptied. A test holds
 * a WeakRef to the context and checks it is collected while the stream is open.
 */
export function releaseKoaContext(res: ServerResponse): void {
  const listener = (res as ServerResponse & { __onFinished?: FinishedListener }).__onFinished;
  if (listener && Array.isArray(listener.queue)) listener.queue.length = 0;
}
