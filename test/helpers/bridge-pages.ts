import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BRIDGE_PATH } from './bridge';
import type { PushframeServer } from '../../src';
import { destroyReleased } from '../../src/transports';
import { startTestServer } from './server';

/**
 * Two origins on loopback for the bridge's browser tests:
 * - `front` (127.0.0.1): test pages AND the push server's endpoints, i.e. a page on
 *   the stream's own origin;
 * - `pages` (127.0.0.2, another origin): test pages only; they stream from the push
 *   server on 127.0.0.1 through postMessage, their origin being allowed.
 */
export interface BridgeSite {
  push: PushframeServer;
  /** http://127.0.0.1:<port>: pages and /pushframe/* on one origin. */
  sameOrigin: string;
  /** http://127.0.0.2:<port>: pages whose stream is on another origin. */
  crossOrigin: string;
  /** Destroys every socket of the server behind that origin: a network drop mid-stream. */
  cut(which: 'same' | 'cross'): void;
  close(): Promise<void>;
}

const PAGE_OPTIONS = '{ backoffMinMs: 100, backoffMaxMs: 400 }';

/**
 * Which bridge file the pages load: `served` is what the push server serves (the
 * minified build); `readable` is public/pushframe.js as written, served by the page
 * server itself at READABLE_PATH.
 */
export type BridgeFile = 'served' | 'readable';
const READABLE_PATH = '/readable/pushframe.js';

/** A page that records every pushframe DOM event and shows messages in a list. */
export function testPage(pushUrl: string, channels: string[], bridge: BridgeFile = 'served', token?: string, onClick = false): string {
  const tokenOption = token ? ' token: ' + JSON.stringify(token) + ',' : '';
  const options = PAGE_OPTIONS.replace('{', '{ url: ' + JSON.stringify(pushUrl + '/pushframe') + ', channels: ' + JSON.stringify(channels) + ',' + tokenOption);
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pushframe bridge test page</title>
<style>
  body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #status { display: inline-block; padding: 2px 8px; border-radius: 10px; background: #ccc; }
  #status.open { background: #2e7d32; color: #fff; }
  ol { font-family: monospace; background: #f6f6f6; padding: 8px 8px 8px 40px; max-height: 420px; overflow: hidden; }
</style></head>
<body>
<h1>pushframe live</h1>
<p>Status: <span id="status">connecting</span> &middot; transport: <b id="transport">-</b> &middot; received: <b id="count">0</b></p>
${onClick ? '<button id="go">connect</button>' : ''}
<ol id="log" reversed></ol>
<script src="${bridge === 'readable' ? READABLE_PATH : pushUrl + '/pushframe/pushframe.js'}"></script>
<script>
  window.__got = [];
  window.__events = [];
  var log = document.getElementById('log');
  Pushframe.listen(document, 'pushframe:message', function (e) {
    window.__got.push(e.detail);
    document.getElementById('count').innerHTML = String(window.__got.length);
    var li = document.createElement('li');
    li.appendChild(document.createTextNode(e.detail.channel + ' #' + e.detail.id + ' ' + JSON.stringify(e.detail.data)));
    log.insertBefore(li, log.firstChild);
    while (log.childNodes.length > 20) log.removeChild(log.lastChild);
  });
  var names = ['open', 'error', 'reset', 'transport', 'close'];
  for (var i = 0; i < names.length; i++) {
    Pushframe.listen(document, 'pushframe:' + names[i], function (e) {
      window.__events.push({ type: e.type, detail: e.detail });
      var s = document.getElementById('status');
      if (e.type === 'pushframe:open') { s.className = 'open'; s.innerHTML = 'open'; }
      if (e.type === 'pushframe:error') { s.className = ''; s.innerHTML = 'reconnecting'; }
      if (e.type === 'pushframe:transport') document.getElementById('transport').innerHTML = e.detail.name;
    });
  }
  ${onClick
    ? `document.getElementById('go').onclick = function () { window.__conn = Pushframe.connect(${options}); };`
    : `window.__conn = Pushframe.connect(${options});`}
</script>
</body></html>`;
}

export function pageHandler(pushUrlFor: (req: http.IncomingMessage) => string, bridge: BridgeFile = 'served') {
  return (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === READABLE_PATH) {
      res.writeHead(200, { 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'no-store' });
      res.end(readFileSync(BRIDGE_PATH));
      return true;
    }
    if (url.pathname !== '/page') return false;
    const channels = (url.searchParams.get('channels') ?? 'test').split(',');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(testPage(pushUrlFor(req), channels, bridge, url.searchParams.get('token') ?? undefined, url.searchParams.get('click') === '1'));
    return true;
  };
}

function listen(server: http.Server, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(`http://${host}:${(server.address() as AddressInfo).port}`));
  });
}

export async function startBridgeSite(options: { heartbeatMs?: number; maxStreamBytes?: number; bridge?: BridgeFile } = {}): Promise<BridgeSite> {
  const bridge = options.bridge ?? 'served';
  let pushUrl = '';
  const pages = http.createServer((req, res) => {
    if (!pageHandler(() => pushUrl, bridge)(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  const crossOrigin = await listen(pages, '127.0.0.2');
  const push = await startTestServer({
    heartbeatMs: options.heartbeatMs ?? 500,
    allowedOrigins: [crossOrigin],
    ...(options.maxStreamBytes ? { maxStreamBytes: options.maxStreamBytes } : {}),
  });
  pushUrl = push.url;
  // The push app mounted under a server that also serves the pages: one origin.
  const app = push.app.callback();
  let frontUrl = '';
  const front = http.createServer((req, res) => {
    if (!pageHandler(() => frontUrl, bridge)(req, res)) void app(req, res);
  });
  front.requestTimeout = 0;
  frontUrl = await listen(front, '127.0.0.1');
  return {
    push,
    sameOrigin: frontUrl,
    crossOrigin,
    cut(which) {
      const server = which === 'same' ? front : push.http;
      server.closeAllConnections();
      // Streams own their sockets, outside Node's list of connections.
      destroyReleased(server);
    },
    async close() {
      pages.closeAllConnections();
      front.closeAllConnections();
      destroyReleased(front);
      await push.close();
      await Promise.all([pages, front].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

