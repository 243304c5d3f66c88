import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BufferingProxy {
  readonly url: string;
  readonly port: number;
  /** Requests forwarded so far, by path (without the query). */
  readonly requests: Map<string, number>;
  close(): Promise<void>;
}

/** Response headers that describe the hop, not the message: a proxy drops them. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
]);

/**
 * A reverse proxy on 127.0.0.1 that behaves like the corporate proxies and virus
 * scanners that defeat streaming: it holds every response until the upstream has sent
 * all of it, then forwards it whole with a Content-Length. A forever frame never
 * completes, so nothing of it ever arrives; a long-poll answer arrives when it ends.
 * It also ignores X-Accel-Buffering, like any proxy that is not nginx.
 */
export async function startBufferingProxy(upstream: string): Promise<BufferingProxy> {
  const target = new URL(upstream);
  if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost')
    throw new Error('the buffering proxy only forwards to loopback');
  const requests = new Map<string, number>();
  const upstreamRequests = new Set<http.ClientRequest>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const headers = { ...req.headers, host: target.host };
    delete headers.connection;
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: false },
      (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          upstreamRequests.delete(up);
          const body = Buffer.concat(chunks);
          const out: http.OutgoingHttpHeaders = {};
          for (const [k, v] of Object.entries(upRes.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
          out['content-length'] = body.length;
          out.via = '1.1 buffering-proxy';
          res.writeHead(upRes.statusCode ?? 502, out);
          res.end(body);
        });
        upRes.on('error', () => res.destroy());
      },
    );
    upstreamRequests.add(up);
    up.on('error', () => {
      upstreamRequests.delete(up);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
    // A client that leaves takes its upstream request with it, as real proxies do.
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const up of upstreamRequests) up.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
