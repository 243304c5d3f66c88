import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PushframeServer } from '../../src';
import { ENGINES, waitInPage, type TestBrowser, type TestPage } from '../helpers/browsers';
import { startTestServer } from '../helpers/server';

/**
 * The JSONP long-poll's origin policy in a real browser, with the server's defaults
 * (but for the allowlist): the bridge polls from its own origin and from an allowed one
 * (also when that page sends no referrer), while a page on another origin is refused,
 * whether it runs the bridge or writes the script tag itself and claims an allowed
 * origin. Three loopback origins: 127.0.0.1 (the push server and its own pages),
 * 127.0.0.2 (allowed), 127.0.0.3 (not allowed).
 */

const CHANNEL = 'news';

function bridgePage(pushUrl: string, noReferrer: boolean): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8">${noReferrer ? '<meta name="referrer" content="no-referrer">' : ''}<title>JSONP long-poll</title></head>
<body><p>received: <b id="count">0</b></p>
<script src="${pushUrl}/pushframe/pushframe.js"></script>
<script>
  window.__got = [];
  window.__events = [];
  Pushframe.listen(document, 'pushframe:message', function (e) {
    window.__got.push(e.detail.data);
    document.getElementById('count').innerHTML = String(window.__got.length);
  });
  var names = ['open', 'error', 'transport', 'close'];
  for (var i = 0; i < names.length; i++) {
    Pushframe.listen(document, 'pushframe:' + names[i], function (e) { window.__events.push({ type: e.type, detail: e.detail }); });
  }
  // The bridge starts polling after the page's load event. Unshared: each page (with and
  // without a referrer) must send its own polls, not receive another tab's.
  window.__conn = Pushframe.connect({ url: ${JSON.stringify(pushUrl + '/pushframe')}, channels: [${JSON.stringify(CHANNEL)}], transports: ['longpoll'], share: false });
</script></body></html>`;
}

/** What a hostile page does by hand: a JSONP poll in a script tag, claiming an allowed origin. */
function stealPage(pushUrl: string, claimed: string, noReferrer: boolean): string {
  const src = `${pushUrl}/pushframe/poll?channels=${CHANNEL}&callback=Pushframe._poll.f1_x_1&origin=${encodeURIComponent(claimed)}`;
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8">${noReferrer ? '<meta name="referrer" content="no-referrer">' : ''}<title>steal</title></head>
<body><script>var Pushframe = { _poll: { f1_x_1: function (a) { window.__answer = a; } } };</script>
<script src="${src}"></script></body></html>`;
}

function listen(server: http.Server, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(`http://${host}:${(server.address() as AddressInfo).port}`));
  });
}

describe.each(ENGINES)('JSONP long-poll and the origin policy, in %s', (_engine, launch) => {
  let browser: TestBrowser;
  let push: PushframeServer;
  let own = '';
  let allowed = '';
  let other = '';
  const servers: http.Server[] = [];
  const pages: TestPage[] = [];

  /** Pages for every origin: /bridge, /bridge-noref, /steal, /steal-noref; the push endpoints on `own`. */
  function site(app?: http.RequestListener): http.Server {
    const s = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const html: Record<string, () => string> = {
        '/bridge': () => bridgePage(push.url, false),
        '/bridge-noref': () => bridgePage(push.url, true),
        '/steal': () => stealPage(push.url, allowed, false),
        '/steal-noref': () => stealPage(push.url, allowed, true),
      };
      const page = html[url.pathname];
      if (page) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(page());
      } else if (app) app(req, res);
      else {
        res.writeHead(404);
        res.end();
      }
    });
    servers.push(s);
    return s;
  }

  beforeAll(async () => {
    const allowedSite = site();
    const otherSite = site();
    allowed = await listen(allowedSite, '127.0.0.2');
    other = await listen(otherSite, '127.0.0.3');
    [browser, push] = await Promise.all([launch(), startTestServer({ allowedOrigins: [allowed] })]);
    // The push server's own origin serves pages too: the bridge polls same-origin there.
    const ownSite = site(push.app.callback());
    own = await listen(ownSite, '127.0.0.1');
    (push as { url: string }).url = own;
  }, 30000);

  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close()));
    await browser?.close();
    for (const s of servers) s.closeAllConnections();
    await push?.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  async function open(url: string): Promise<TestPage> {
    const page = await browser.newPage();
    pages.push(page);
    await page.goto(url);
    return page;
  }

  const polls = (p: TestPage): Promise<string[]> =>
    p.evaluate<string[]>("performance.getEntriesByType('resource').map(function (e) { return e.name; }).filter(function (n) { return n.indexOf('/poll?') !== -1; })");

  it('the bridge polls same-origin and from an allowed origin (with or without a referrer); another origin is refused', async () => {
    const [same, cross, crossNoRef, foreign] = await Promise.all([
      open(own + '/bridge'),
      open(allowed + '/bridge'),
      open(allowed + '/bridge-noref'),
      open(other + '/bridge'),
    ]);
    const opened = "window.__events.some(function (e) { return e.type === 'pushframe:open'; })";
    await Promise.all([same, cross, crossNoRef].map((p) => waitInPage(p, opened, 'the long-poll to open', 10000)));
    await waitInPage(foreign, "window.__events.some(function (e) { return e.type === 'pushframe:error'; })", 'the refusal', 10000);

    for (let n = 0; n < 20; n++) await push.hub.publish(CHANNEL, { n });
    await Promise.all([same, cross, crossNoRef].map((p) => waitInPage(p, 'window.__got.length >= 20', '20 messages', 10000)));
    const want = Array.from({ length: 20 }, (_, n) => ({ n }));
    for (const p of [same, cross, crossNoRef]) {
      expect(await p.evaluate('window.__got')).toEqual(want);
      const ev = await p.evaluate<{ type: string; detail: { name?: string } }[]>('window.__events');
      expect(ev[0]).toEqual({ type: 'pushframe:transport', detail: { name: 'longpoll' } });
      expect(ev.filter((e) => e.type === 'pushframe:error')).toEqual([]);
    }
    // Cross-origin polls name their page; same-origin ones need not.
    expect((await polls(same)).every((u) => !u.includes('origin='))).toBe(true);
    for (const p of [cross, crossNoRef]) {
      const urls = await polls(p);
      expect(urls.length).toBeGreaterThan(1);
      expect(urls.every((u) => u.includes('&origin=' + encodeURIComponent(allowed)))).toBe(true);
    }

    const refused = await foreign.evaluate<{ type: string; detail: { code?: string } }[]>('window.__events');
    expect(refused.find((e) => e.type === 'pushframe:error')?.detail.code).toBe('bad_origin');
    expect(await foreign.evaluate('window.__got')).toEqual([]);
  }, 40000);

  it('a page on another origin that claims an allowed origin= gets a refusal, not the channel', async () => {
    await push.hub.publish(CHANNEL, { secret: 'intranet news' });
    const [withRef, noRef] = await Promise.all([open(other + '/steal'), open(other + '/steal-noref')]);
    for (const p of [withRef, noRef]) {
      await waitInPage(p, 'window.__answer', 'the JSONP answer', 10000);
      const answer = await p.evaluate<{ error?: { code: string }; cursor?: string }>('window.__answer');
      expect(answer.error?.code).toBe('bad_origin');
      expect(answer.cursor).toBeUndefined();
    }
  }, 30000);
});
