import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PushframeServer } from '../../src';
import type { TestPage } from './browsers';
import { waitInPage } from './browsers';

/**
 * An application's page on 127.0.0.1: it loads the bridge from `/pushframe/pushframe.js`
 * and, when its button is clicked (after `load`, as a person would), connects with the
 * bridge's defaults (or the transports named in `?transports=`). Everything the page sees is recorded with the time since the click.
 * Without `push`, the site serves only the page (a proxy in front routes `/pushframe/`);
 * with it, the site also answers the push endpoints (one origin, no proxy needed).
 */
export interface ClickSite {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `own`: the page opts out of tab sharing (`share: false`) and holds a stream of its own.
 * `token`: a grant the application rendered into the page (private channels).
 */
function page(channel: string, transports: string[] | null, own = false, token: string | null = null): string {
  const ladder =
    (transports ? `, transports: ${JSON.stringify(transports)}` : '') + (own ? ', share: false' : '') + (token ? `, token: ${JSON.stringify(token)}` : '');
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pushframe page</title></head>
<body>
<p>transport: <span id="transport">-</span> &middot; received: <b id="count">0</b></p>
<button id="go" type="button">connect</button>
<script src="/pushframe/pushframe.js"></script>
<script>
  window.__got = [];
  window.__events = [];
  window.__clickedAt = 0;
  Pushframe.listen(document, 'pushframe:message', function (e) {
    window.__got.push({ channel: e.detail.channel, id: e.detail.id, data: e.detail.data, at: new Date().getTime() - window.__clickedAt });
    document.getElementById('count').innerHTML = String(window.__got.length);
  });
  var names = ['open', 'error', 'reset', 'transport', 'close'];
  for (var i = 0; i < names.length; i++) {
    Pushframe.listen(document, 'pushframe:' + names[i], function (e) {
      window.__events.push({ type: e.type.replace('pushframe:', ''), detail: e.detail, at: new Date().getTime() - window.__clickedAt });
      if (e.type === 'pushframe:transport') document.getElementById('transport').innerHTML = e.detail.name;
    });
  }
  document.getElementById('go').onclick = function () {
    if (window.__conn) return;
    window.__clickedAt = new Date().getTime();
    window.__conn = Pushframe.connect({ url: '/pushframe', channels: [${JSON.stringify(channel)}]${ladder} });
  };
</script>
</body></html>`;
}

export async function startClickSite(push?: PushframeServer): Promise<ClickSite> {
  const app = push?.app.callback();
  const site = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/page') {
      const channel = url.searchParams.get('channel') ?? 'test';
      const ladder = url.searchParams.get('transports');
      const token = url.searchParams.get('token');
      if (
        !/^[a-z0-9/]{1,40}$/.test(channel) ||
        (ladder !== null && !/^[a-z]+(,[a-z]+)*$/.test(ladder)) ||
        (token !== null && !/^[A-Za-z0-9._-]{1,2000}$/.test(token))
      ) {
        res.writeHead(400);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page(channel, ladder === null ? null : ladder.split(','), url.searchParams.get('share') === '0', token));
      return;
    }
    if (app) return void app(req, res);
    res.writeHead(404);
    res.end();
  });
  site.requestTimeout = 0;
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(site.address() as AddressInfo).port}`,
    async close() {
      site.closeAllConnections();
      await new Promise((r) => site.close(r));
    },
  };
}

export interface PageRecord {
  got: { channel: string; id: string; data: { n: number }; at: number }[];
  events: { type: string; detail: { name?: string; code?: string; transport?: string; message?: string }; at: number }[];
  transport: string;
}

/** Loads the page, clicks its button once `load` has fired. */
export async function openAndClick(p: TestPage, url: string, loadTimeoutMs = 10000): Promise<void> {
  await p.goto(url, loadTimeoutMs);
  await p.click('#go');
  await waitInPage(p, 'window.__clickedAt > 0', 'the click');
}

export function record(p: TestPage): Promise<PageRecord> {
  return p.evaluate<PageRecord>('({ got: window.__got, events: window.__events, transport: window.__conn ? window.__conn.transport : "" })');
}

/**
 * Waits (bounded, `timeoutMs` per page) until every page has `total` messages, then checks that each got
 * `{ n }` for n = 0..total-1, in order, once each; returns what each page recorded.
 */
export async function expectEveryMessage(pages: TestPage[], total: number, timeoutMs = 10_000): Promise<PageRecord[]> {
  for (const p of pages) await waitInPage(p, `window.__got.length >= ${total}`, `${total} messages`, timeoutMs);
  // Anything extra (a repeat) would arrive within this.
  await new Promise((r) => setTimeout(r, 300));
  const records = await Promise.all(pages.map(record));
  for (const r of records) expect(r.got.map((g) => g.data.n)).toEqual(Array.from({ length: total }, (_, i) => i));
  return records;
}
