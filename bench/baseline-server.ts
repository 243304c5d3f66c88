/**
 * The bare-Node baseline: the least a forever-frame server can do with node:http.
 * Same request, same headers, a 2 KiB preamble (the padding floor of the design), an
 * open frame, then one pre-built `<script>p.m(...)</script>` chunk per message, the same
 * bytes pushframe writes for that message, written to every matching response. No
 * validation, no history, no batching, no limits: the practical ceiling on this machine.
 */
import http from 'node:http';
import { serveControl, type BenchData } from './control';

const PREAMBLE_BYTES = 2048;
const HEAD = '<!DOCTYPE html><html><head><meta charset="utf-8"><script>var p=parent.Pushframe?parent.Pushframe._frame(""):null;</script></head><body><!--';
const PREAMBLE = HEAD + ' '.repeat(PREAMBLE_BYTES - HEAD.length - 3) + '-->';

/** Exact channels, and `prefix/*` patterns keyed by `prefix/`. */
const exact = new Map<string, Set<http.ServerResponse>>();
const oneLevel = new Map<string, Set<http.ServerResponse>>();
let lastId = 0;

function add(index: Map<string, Set<http.ServerResponse>>, key: string, res: http.ServerResponse): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(res);
}

function remove(index: Map<string, Set<http.ServerResponse>>, key: string, res: http.ServerResponse): void {
  const set = index.get(key);
  if (set && set.delete(res) && set.size === 0) index.delete(key);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    return;
  }
  if (url.pathname !== '/pushframe/stream') {
    res.writeHead(404).end();
    return;
  }
  const patterns = (url.searchParams.get('channels') ?? '').split(',').filter((c) => c.length > 0);
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
    Expires: '0',
    'X-Accel-Buffering': 'no',
    'X-Content-Type-Options': 'nosniff',
  });
  res.write(PREAMBLE + '<script>p.o("b~' + lastId + '",300000)</script>');
  for (const p of patterns) {
    if (p.endsWith('/*')) add(oneLevel, p.slice(0, -1), res);
    else add(exact, p, res);
  }
  res.on('close', () => {
    for (const p of patterns) {
      if (p.endsWith('/*')) remove(oneLevel, p.slice(0, -1), res);
      else remove(exact, p, res);
    }
  });
});
// Streams live as long as the client wants; Node's own timeouts must not end them.
server.requestTimeout = 0;
server.headersTimeout = 10_000;
server.keepAliveTimeout = 0;

function publish(channel: string, data: BenchData): void {
  const frame = '<script>p.m("' + channel + '","' + ++lastId + '",' + JSON.stringify(data) + ')</script>';
  const direct = exact.get(channel);
  if (direct) for (const res of direct) res.write(frame);
  const slash = channel.lastIndexOf('/');
  const wild = slash === -1 ? undefined : oneLevel.get(channel.slice(0, slash + 1));
  if (wild) for (const res of wild) res.write(frame);
}

// The same listen backlog as pushframe: the storm compares the work per connection, not this setting.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const port = (server.address() as { port: number }).port;
  serveControl({
    port,
    streamPath: '/pushframe/stream?channels=',
    publish,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
});
