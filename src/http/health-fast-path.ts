import type { IncomingMessage } from 'node:http';
import type { Deps } from './deps';
import { health } from './routes/ops';
import { hasBody, type Listener } from './stream-fast-path';

/** Whether `req` asks for `/healthz` (any method, any query). */
export function isHealthCheck(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  return url === '/healthz' || url.startsWith('/healthz?');
}

/**
 * `GET` and `HEAD /healthz` answered without Koa. A health check matters most while the
 * node is busiest (every client coming back after a restart), and through Koa's
 * per-request objects and middleware, code a process runs too rarely to optimize, each
 * answer cost 0.3-0.7 ms. The answer is the route's (routes/ops.ts); a request with a
 * body, or another method, goes to `fallback` (the Koa app) as it came.
 */
export function healthFastPath(deps: Deps, fallback: Listener): Listener {
  return (req, res) => {
    const method = req.method;
    if ((method !== 'GET' && method !== 'HEAD') || !isHealthCheck(req) || hasBody(req)) return fallback(req, res);
    const { status, body } = health(deps);
    const json = JSON.stringify(body);
    res.writeHead(status, {
      'Cache-Control': 'no-store',
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(json),
    });
    res.end(method === 'HEAD' ? undefined : json);
  };
}
