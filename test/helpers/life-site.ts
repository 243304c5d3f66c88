import { randomBytes } from 'node:crypto';
import { destroyReleased } from '../../src/transports';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nunjucks from 'nunjucks';
import { embedContext, usePushframeViews, type PushframeServer } from '../../src';
import { packageRoot } from '../../src/paths';
import { startBufferingProxy, type BufferingProxy } from './buffering-proxy';
import { startTestServer } from './server';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

/**
 * Pages that use the bridge the way real pages do, for the tests of its life in a page:
 * the bridge from a plain `<script src>`, and `Pushframe.connect` called with the
 * DEFAULT settings from a button's click handler, whenever the test clicks it. Every
 * message and lifecycle event is recorded with the page's clock (the machine's).
 */
export function lifePage(pushUrl: string, channel: string, transports?: string[]): string {
  const chosen = transports ? `, transports: ${JSON.stringify(transports)}` : '';
  const options = `{ url: ${JSON.stringify(pushUrl + '/pushframe')}, channels: [${JSON.stringify(channel)}]${chosen} }`;
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pushframe: connect on click</title>
<script src="${pushUrl}/pushframe/pushframe.js"></script>
</head>
<body>
<h1>pushframe</h1>
<p><button id="connect" type="button">Connect</button> received: <b id="count">0</b></p>
<script>
  window.__got = [];
  window.__events = [];
  window.__loadAt = 0;
  window.onload = function () { window.__loadAt = new Date().getTime(); };
  Pushframe.listen(document, 'pushframe:message', function (e) {
    window.__got.push({ channel: e.detail.channel, id: e.detail.id, data: e.detail.data, at: new Date().getTime() });
    document.getElementById('count').innerHTML = String(window.__got.length);
  });
  var names = ['open', 'error', 'reset', 'transport', 'close'];
  for (var i = 0; i < names.length; i++) {
    Pushframe.listen(document, 'pushframe:' + names[i], function (e) {
      window.__events.push({ type: e.type, detail: e.detail, at: new Date().getTime() });
    });
  }
  document.getElementById('connect').onclick = function () {
    window.__connectAt = new Date().getTime();
    window.__readyStateAtConnect = document.readyState;
    window.__conn = Pushframe.connect(${options});
  };
</script>
</body></html>`;
}

const views = usePushframeViews(new nunjucks.Environment(new nunjucks.FileSystemLoader(packageRoot() + '/views'), { autoescape: true }));

/**
 * A server-rendered page with a strict Content-Security-Policy (nonce only, no
 * 'unsafe-inline'), embedding the bridge through the nunjucks macro with its nonce, as
 * docs/security.md shows. It records CSP violations.
 */
function cspPage(nonce: string, embed: object): string {
  return views.renderString(
    `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pushframe under a strict CSP</title>
<script nonce="{{ nonce }}">
  window.__got = []; window.__events = []; window.__violations = [];
  document.addEventListener('securitypolicyviolation', function (e) {
    window.__violations.push({ directive: e.violatedDirective, blocked: e.blockedURI });
  });
  document.addEventListener('pushframe:message', function (e) {
    window.__got.push({ channel: e.detail.channel, id: e.detail.id, data: e.detail.data, at: new Date().getTime() });
  });
  ['open', 'error', 'reset', 'transport', 'close'].forEach(function (n) {
    document.addEventListener('pushframe:' + n, function (e) {
      window.__events.push({ type: e.type, detail: e.detail, at: new Date().getTime() });
    });
  });
</script>
</head><body><h1>strict CSP</h1>
{% from "pushframe.njk" import pushframe %}
{{ pushframe(embed=embed, nonce=nonce) }}
</body></html>`,
    { nonce, embed },
  );
}

export interface LifeRoute {
  proxy: TcpProxy;
  /** A page on the push server's own origin, everything through the proxy; `transports` as the page passes them to connect(). */
  samePage(channel: string, transports?: string[]): string;
  /** A page on another origin (127.0.0.2) whose push server is reached through the proxy. */
  crossPage(channel: string, transports?: string[]): string;
}

export interface LifeSite {
  push: PushframeServer;
  /** The origin of the pages on 127.0.0.2 (to allow on push servers started elsewhere). */
  crossOrigin: string;
  /** A page on 127.0.0.2 whose push server is `pushUrl` (http://127.0.0.1:port). */
  crossPageFor(pushUrl: string, channel: string, transports?: string[]): string;
  /** A fresh TCP proxy in front of the site (one per scenario: its faults hit all its connections). */
  route(): Promise<LifeRoute>;
  /** A buffering proxy in front of the site, serving the strict-CSP page at /csp?channel=…. */
  buffering(): Promise<BufferingProxy>;
  close(): Promise<void>;
}

/** `&transports=a,b` for a page that passes `transports` to connect(); nothing for the default ladder. */
function transportsQuery(transports: string[] | undefined): string {
  return transports ? '&transports=' + transports.join(',') : '';
}

/** The transports a page was asked for: transport names only, or none (the default). */
function transportsOf(url: URL): string[] | undefined {
  const list = url.searchParams.get('transports');
  return list !== null && /^[a-z]+(,[a-z]+)*$/.test(list) ? list.split(',') : undefined;
}

function listen(server: http.Server, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(`http://${host}:${(server.address() as AddressInfo).port}`));
  });
}

function sendHtml(res: http.ServerResponse, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(html);
}

/** The push server with its DEFAULT heartbeat, pages on its origin and on 127.0.0.2. */
export async function startLifeSite(): Promise<LifeSite> {
  const pages = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const push = url.searchParams.get('push') ?? '';
    if (url.pathname !== '/life' || !/^http:\/\/127\.0\.0\.1:\d+$/.test(push)) {
      res.writeHead(404);
      res.end();
      return;
    }
    sendHtml(res, lifePage(push, url.searchParams.get('channel') ?? 'test', transportsOf(url)));
  });
  const crossOrigin = await listen(pages, '127.0.0.2');
  const push = await startTestServer({ allowedOrigins: [crossOrigin] });
  const app = push.app.callback();
  const front = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const channel = url.searchParams.get('channel') ?? 'test';
    if (url.pathname === '/life') return sendHtml(res, lifePage('', channel, transportsOf(url)));
    if (url.pathname === '/csp') {
      const nonce = randomBytes(18).toString('base64');
      void embedContext(push.hub, [channel]).then((embed) =>
        sendHtml(res, cspPage(nonce, embed), { 'content-security-policy': `script-src 'nonce-${nonce}'; object-src 'none'; base-uri 'none'` }),
      );
      return;
    }
    void app(req, res);
  });
  front.requestTimeout = 0;
  const frontUrl = await listen(front, '127.0.0.1');
  const frontPort = Number(new URL(frontUrl).port);
  const closers: (() => Promise<void>)[] = [];
  const crossPageFor = (pushUrl: string, channel: string, transports?: string[]): string =>
    `${crossOrigin}/life?channel=${encodeURIComponent(channel)}&push=${encodeURIComponent(pushUrl)}${transportsQuery(transports)}`;
  return {
    push,
    crossOrigin,
    crossPageFor,
    async route() {
      const proxy = await startTcpProxy(() => [frontPort]);
      closers.push(() => proxy.close());
      return {
        proxy,
        samePage: (channel, transports) => `${proxy.url}/life?channel=${encodeURIComponent(channel)}${transportsQuery(transports)}`,
        crossPage: (channel, transports) => crossPageFor(proxy.url, channel, transports),
      };
    },
    async buffering() {
      const proxy = await startBufferingProxy(frontUrl);
      closers.push(() => proxy.close());
      return proxy;
    },
    async close() {
      await Promise.all(closers.map((c) => c()));
      pages.closeAllConnections();
      front.closeAllConnections();
      destroyReleased(front);
      await push.close();
      await Promise.all([pages, front].map((s) => new Promise((r) => s.close(r))));
    },
  };
}
