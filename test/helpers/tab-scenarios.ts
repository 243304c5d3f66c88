import http from 'node:http';
import { destroyReleased } from '../../src/transports';
import type { AddressInfo } from 'node:net';
import { startServer, type PushframeServer } from '../../src';
import { grant } from '../../src/auth';
import { pageHandler } from './bridge-pages';
import { waitInPage, type TestBrowser, type TestPage } from './browsers';

/**
 * Many tabs of one browser profile against one server (docs/bridge.md, "Many tabs, one
 * stream"): the tabs share one stream, each gets exactly its own channels, and closing
 * the tab that holds the stream loses and repeats nothing. Server and bridge run with
 * their default settings, except where a test says otherwise.
 */

interface Got {
  channel: string;
  id: string;
  data: { n: number };
}

const TABS = 12;
const BURST = 50;
const SECRET = 'tab-scenarios-secret';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

interface StreamStats {
  total: number;
  byTransport: Record<string, number>;
  capped: number;
}

async function stats(server: PushframeServer): Promise<StreamStats> {
  const res = await fetch(server.url + '/pushframe/stats');
  const body = (await res.json()) as { connections: StreamStats };
  return body.connections;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Messages on one channel, each once, in publish order, ids increasing. */
function expectExactly(list: Got[], channel: string, ns: number[]): void {
  expect(list.map((g) => g.channel)).toEqual(ns.map(() => channel));
  expect(list.map((g) => g.data.n)).toEqual(ns);
  const ids = list.map((g) => Number(g.id));
  for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
}

/** The tab whose page holds the stream's frame (the page's events do not say). */
async function holder(tabs: TestPage[]): Promise<number> {
  const counts = await Promise.all(tabs.map((t) => t.evaluate<number>("document.getElementsByTagName('iframe').length")));
  const at = counts.filter((n) => n > 0);
  expect(at).toEqual([1]);
  return counts.indexOf(1);
}

export function tabScenarios(launch: () => Promise<TestBrowser>): void {
  let browser: TestBrowser;
  let demo: PushframeServer;
  let site: { server: PushframeServer; url: string; close(): Promise<void> };

  beforeAll(async () => {
    [browser, demo, site] = await Promise.all([
      launch(),
      startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', demo: true }),
      startSite(),
    ]);
  }, 30000);

  // Fronts a failed test left open would keep jest from exiting.
  const fronts = new Set<{ close(): Promise<void> }>();
  afterAll(async () => {
    await Promise.all([...fronts].map((f) => f.close()));
    await browser?.close();
    await demo?.close();
    await site?.close();
  });

  it(`${TABS} tabs of the demo page load within 2 s each (beyond a page without a stream in the same tab) on one stream; closing its tab loses and repeats nothing (defaults)`, async () => {
    const tabs: TestPage[] = [];
    const extraMs: number[] = [];
    // The server's count of open streams, sampled throughout.
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          most = Math.max(most, (await stats(demo)).total);
        } catch {
          return; // the server is gone: the test has ended
        }
        await sleep(100);
      }
    })();
    // The first navigation of a fresh browser process pays its start-up (Firefox: over
    // 2 s on a busy machine): one demo tab, closed before the measured ones open.
    const warm = await browser.newPage();
    await warm.goto(demo.url + '/');
    await warm.close();
    await waitFor('the warm-up stream to end', async () => (await stats(demo)).total === 0);
    for (let i = 0; i < TABS; i++) {
      const tab = await browser.newPage();
      // What the engine itself takes for a page in this tab, without a stream: WebKitGTK's
      // windows (a web process each, under Xvfb) take up to a second each from the sixth on.
      let t0 = Date.now();
      await tab.goto(site.url + '/page?click=1&channels=a');
      const plainMs = Date.now() - t0;
      t0 = Date.now();
      await tab.goto(demo.url + '/');
      extraMs.push(Date.now() - t0 - plainMs);
      tabs.push(tab);
      await waitInPage(tab, "document.getElementById('status').className.indexOf('live') !== -1", `tab ${i + 1} to be live`, 10000);
      await tab.evaluate(
        // One expression: WebDriver's drivers run it as `return (...)`.
        "(function () { window.__got = []; document.addEventListener('pushframe:message', function (e) { if (e.detail.channel === 'demo/tabs') window.__got.push(e.detail); }); })()",
      );
    }
    expect(extraMs.map((ms, i) => `tab ${i + 1}: ${ms} ms more`).filter((_, i) => extraMs[i] > 2000)).toEqual([]);
    expect((await stats(demo)).total).toBe(1);

    for (const n of range(0, BURST)) await demo.hub.publish('demo/tabs', { n });
    for (const [i, tab] of tabs.entries()) await waitInPage(tab, `window.__got.length >= ${BURST}`, `tab ${i + 1}: ${BURST} messages`);
    await sleep(300); // nothing more may arrive
    for (const tab of tabs) expectExactly(await tab.evaluate<Got[]>('window.__got'), 'demo/tabs', range(0, BURST));

    // Close the tab that holds the stream and publish at once: the hand-over must not lose these.
    const lead = await holder(tabs);
    await tabs[lead].close();
    tabs.splice(lead, 1);
    for (const n of range(BURST, 2 * BURST)) await demo.hub.publish('demo/tabs', { n });
    for (const [i, tab] of tabs.entries()) await waitInPage(tab, `window.__got.length >= ${2 * BURST}`, `tab ${i + 1}: ${2 * BURST} messages`, 15000);
    await sleep(300);
    for (const tab of tabs) expectExactly(await tab.evaluate<Got[]>('window.__got'), 'demo/tabs', range(0, 2 * BURST));
    await holder(tabs);
    await waitFor('one stream on the server', async () => (await stats(demo)).total === 1);
    await sleep(500);
    expect((await stats(demo)).total).toBe(1);
    sampling = false;
    await sampler;
    // One stream; two for the instant of the hand-over, when the closed tab's socket may
    // not be gone yet as the next tab's stream opens.
    expect(most).toBeLessThanOrEqual(2);
    // Sharing kept the browser within its budget: no request had to be answered early.
    expect((await stats(demo)).capped).toBe(0);
    await Promise.all(tabs.map((t) => t.close()));
    await waitFor('no stream on the server', async () => (await stats(demo)).total === 0);
  }, 120000);

  it('a demo tab whose page was rendered before messages were published, and that joins the shared stream after them, gets them once, in order (catch-up)', async () => {
    const front = await startFront(demo);
    fronts.add(front);
    const first = await browser.newPage();
    await first.goto(front.url + '/');
    await waitInPage(first, "document.getElementById('status').className.indexOf('live') !== -1", 'the first tab to be live');
    const late = await browser.newPage();
    const held = front.holdNext();
    const loading = late.goto(front.url + '/', 30000);
    await held.rendered; // its cursor is in the page now
    for (const n of range(0, 6)) await demo.hub.publish('demo/join', { n });
    // The shared stream is past them before the late tab connects.
    await waitInPage(first, `${JOINED}.length >= 6`, 'the first tab: 6 messages');
    held.release();
    await loading;
    await waitInPage(late, "document.getElementById('status').className.indexOf('live') !== -1", 'the late tab to be live');
    for (const n of range(6, 10)) await demo.hub.publish('demo/join', { n });
    for (const [name, tab] of [['first', first], ['late', late]] as const) await waitInPage(tab, `${JOINED}.length >= 10`, `the ${name} tab: 10 messages`);
    await sleep(300); // nothing more may arrive
    // The ticker shows the newest first: each message once, in publish order.
    const want = range(0, 10).map((n) => 'n: ' + n).reverse();
    expect(await late.evaluate(JOINED)).toEqual(want);
    expect(await first.evaluate(JOINED)).toEqual(want);
    expect((await stats(demo)).total).toBe(1);
    await Promise.all([first.close(), late.close()]);
    fronts.delete(front);
    await front.close();
    await waitFor('no stream on the server', async () => (await stats(demo)).total === 0);
  }, 60000);

  it('tabs with different channels, one with a private grant, connecting from a click after load, each get exactly their own', async () => {
    const token = grant(SECRET, ['private/x'], 600);
    const specs = [
      { channels: 'a', token: '' },
      { channels: 'b', token: '' },
      { channels: 'a,private/x', token },
      // Asks for the private channel without a grant: refused, as it would be alone.
      { channels: 'private/x', token: '' },
    ];
    const tabs: TestPage[] = [];
    for (const spec of specs) {
      const tab = await browser.newPage();
      await tab.goto(`${site.url}/page?click=1&channels=${encodeURIComponent(spec.channels)}${spec.token ? '&token=' + spec.token : ''}`);
      tabs.push(tab);
    }
    // The user clicks a while after the pages loaded.
    await sleep(1000);
    for (const tab of tabs) await tab.click('#go');
    for (const i of [0, 1, 2]) {
      await waitInPage(tabs[i], "window.__events.some(function (e) { return e.type === 'pushframe:open'; })", `tab ${i + 1} to open`);
    }
    await waitInPage(tabs[3], "window.__events.some(function (e) { return e.type === 'pushframe:close'; })", 'the ungranted tab to close');
    expect(await tabs[3].evaluate('window.__events')).toEqual([
      { type: 'pushframe:transport', detail: { name: 'iframe' } },
      { type: 'pushframe:error', detail: { code: 'bad_grant', message: expect.stringContaining('private/x') } },
      { type: 'pushframe:close', detail: {} },
    ]);

    for (const n of range(0, 10)) {
      for (const channel of ['a', 'b', 'c', 'private/x', 'private/y']) await site.server.hub.publish(channel, { n });
    }
    await waitInPage(tabs[2], 'window.__got.length >= 20', 'tab 3: 20 messages');
    await waitInPage(tabs[0], 'window.__got.length >= 10', 'tab 1: 10 messages');
    await waitInPage(tabs[1], 'window.__got.length >= 10', 'tab 2: 10 messages');
    await sleep(300);
    const got = await Promise.all(tabs.map((t) => t.evaluate<Got[]>('window.__got')));
    expectExactly(got[0], 'a', range(0, 10));
    expectExactly(got[1], 'b', range(0, 10));
    expectExactly(got[2].filter((g) => g.channel === 'a'), 'a', range(0, 10));
    expectExactly(got[2].filter((g) => g.channel === 'private/x'), 'private/x', range(0, 10));
    expect(got[2]).toHaveLength(20);
    expect(got[3]).toEqual([]);
    // No tab can tell whether it holds the stream: the same events everywhere.
    for (const i of [0, 1, 2]) {
      expect(await tabs[i].evaluate('window.__events')).toEqual([
        { type: 'pushframe:transport', detail: { name: 'iframe' } },
        { type: 'pushframe:open', detail: { transport: 'iframe', cursor: expect.any(String), heartbeatMs: site.server.config.heartbeatMs } },
      ]);
    }
    await holder(tabs);
    expect((await stats(site.server)).total).toBe(1);
    await Promise.all(tabs.map((t) => t.close()));
  }, 60000);
}

/** The demo ticker's live entries on demo/join, newest first (their text, e.g. `n: 3`). */
const JOINED =
  "(function () { var out = [], li = document.querySelectorAll('#ticker li.new'), i; for (i = 0; i < li.length; i++) if (li[i].querySelector('.ch').textContent === 'demo/join') out.push(li[i].querySelector('.text').textContent); return out; })()";

/**
 * The demo server behind a front on another port, whose next `/` can be held: the page
 * is rendered (with its cursor) at once and sent only on `release()`, as a page whose
 * response is slow to arrive, or that connects a while after its render.
 */
async function startFront(server: PushframeServer): Promise<{ url: string; holdNext(): { rendered: Promise<void>; release(): void }; close(): Promise<void> }> {
  const app = server.app.callback();
  let next: { rendered: () => void; released: Promise<void> } | null = null;
  const front = http.createServer((req, res) => {
    const hold = req.url === '/' ? next : null;
    if (!hold) {
      void app(req, res);
      return;
    }
    next = null;
    void (async () => {
      const page = await fetch(server.url + '/');
      const body = await page.text();
      hold.rendered();
      await hold.released;
      res.writeHead(page.status, { 'content-type': page.headers.get('content-type') ?? 'text/html; charset=utf-8' });
      res.end(body);
    })();
  });
  front.requestTimeout = 0;
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    holdNext() {
      let rendered = (): void => undefined;
      let release = (): void => undefined;
      const r = new Promise<void>((resolve) => (rendered = resolve));
      next = { rendered, released: new Promise<void>((resolve) => (release = resolve)) };
      return { rendered: r, release };
    },
    async close() {
      front.closeAllConnections();
      destroyReleased(front);
      await new Promise((r) => front.close(r));
    },
  };
}

/** The push server (with a secret for grants) and the test pages on one origin. */
async function startSite(): Promise<{ server: PushframeServer; url: string; close(): Promise<void> }> {
  const server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', demo: false, secret: SECRET });
  const app = server.app.callback();
  let url = '';
  const front = http.createServer((req, res) => {
    if (!pageHandler(() => url)(req, res)) void app(req, res);
  });
  front.requestTimeout = 0;
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  return {
    server,
    url,
    async close() {
      front.closeAllConnections();
      destroyReleased(front);
      await server.close();
      await new Promise((r) => front.close(r));
    },
  };
}
