import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PushframeServer, StartOptions } from '../../src';
import { destroyReleased } from '../../src/transports';
import { startBufferingProxy, type BufferingProxy } from './buffering-proxy';
import { startTestServer } from './server';

/**
 * A site on 127.0.0.1 serving a test page and the push endpoints on one origin, and a
 * buffering proxy in front of all of it: the browser loads the page, the bridge and
 * every stream or poll through the proxy.
 */
export interface FallbackSite {
  push: PushframeServer;
  /** The site itself, without the proxy. */
  direct: string;
  proxy: BufferingProxy;
  /** Destroys every socket of the site: a network drop mid-stream. */
  cut(): void;
  close(): Promise<void>;
}

/**
 * The page renders the way a server-rendered page with the embed macro does: with the
 * client's position (`since`) taken from the server while rendering, so that every
 * message published after the page was made reaches it, whatever the transport.
 */
function page(channel: string, since: string | null, bridgeOptions: string): string {
  const sinceOption = since === null ? '' : `since: ${JSON.stringify(since)}, `;
  const options = `{ url: '/pushframe', channels: [${JSON.stringify(channel)}], ${sinceOption}${bridgeOptions} }`;
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pushframe fallback test page</title>
<style>
  body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; }
  #transport { font-weight: bold; }
  ol { font-family: monospace; background: #f6f6f6; padding: 8px 8px 8px 40px; max-height: 420px; overflow: hidden; }
</style></head>
<body>
<h1>pushframe behind a buffering proxy</h1>
<p>transport: <span id="transport">-</span> &middot; received: <b id="count">0</b></p>
<ol id="log" reversed></ol>
<script src="/pushframe/pushframe.js"></script>
<script>
  window.__got = [];
  window.__events = [];
  window.__t0 = new Date().getTime();
  var log = document.getElementById('log');
  Pushframe.listen(document, 'pushframe:message', function (e) {
    window.__got.push({ channel: e.detail.channel, id: e.detail.id, data: e.detail.data, at: new Date().getTime() });
    document.getElementById('count').innerHTML = String(window.__got.length);
    var li = document.createElement('li');
    li.appendChild(document.createTextNode(e.detail.channel + ' #' + e.detail.id + ' ' + JSON.stringify(e.detail.data)));
    log.insertBefore(li, log.firstChild);
    while (log.childNodes.length > 20) log.removeChild(log.lastChild);
  });
  var names = ['open', 'error', 'reset', 'transport', 'close'];
  for (var i = 0; i < names.length; i++) {
    Pushframe.listen(document, 'pushframe:' + names[i], function (e) {
      window.__events.push({ type: e.type, detail: e.detail, at: new Date().getTime() - window.__t0 });
      if (e.type === 'pushframe:transport') document.getElementById('transport').innerHTML = e.detail.name;
    });
  }
  window.__conn = Pushframe.connect(${options});
</script>
</body></html>`;
}

export async function startFallbackSite(serverOptions: StartOptions, bridgeOptions: string): Promise<FallbackSite> {
  const push = await startTestServer(serverOptions);
  const app = push.app.callback();
  const site = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/page') return void app(req, res);
    const channel = url.searchParams.get('channel') ?? 'test';
    if (url.searchParams.has('nosince')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page(channel, null, bridgeOptions));
      return;
    }
    // The position, as the embed macro would put it in the page.
    void fetch(`${push.url}/pushframe/poll?channels=${encodeURIComponent(channel)}`)
      .then((r) => r.json() as Promise<{ cursor: string }>)
      .then(({ cursor }) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(page(channel, cursor, bridgeOptions));
      })
      .catch(() => {
        res.writeHead(500);
        res.end();
      });
  });
  site.requestTimeout = 0;
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const direct = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  const proxy = await startBufferingProxy(direct);
  return {
    push,
    direct,
    proxy,
    cut: () => {
      site.closeAllConnections();
      // Streams own their sockets, outside Node's list of connections.
      destroyReleased(site);
    },
    async close() {
      await proxy.close();
      site.closeAllConnections();
      destroyReleased(site);
      await push.close();
      await new Promise((r) => site.close(r));
    },
  };
}
