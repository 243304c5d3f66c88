import type { PushframeServer } from '../../src';
import { engineSlug, ENGINES, waitInPage, type TestBrowser } from '../helpers/browsers';
import { startBufferingProxy, type BufferingProxy } from '../helpers/buffering-proxy';
import { openAndClick, record, startClickSite, type ClickSite, type PageRecord } from '../helpers/click-site';
import { startTestServer } from '../helpers/server';
import { startThrottlingProxy, type ThrottlingProxy } from '../helpers/throttling-proxy';

/**
 * The bridge's and the server's DEFAULT settings, in each engine, on two hard paths: a
 * proxy that buffers whole responses (the stream never shows a byte) and a slow link that
 * holds nothing back (64 kbit/s, 300 ms each way). The first must be live within 3 s of
 * the click; the second must stay on the stream. The engines run side by side, each
 * with its own slow link (a link is shared by its connections, like a modem). The
 * buffered page is a background tab once the slow page opens beside it, as when a
 * person opens a second tab: Firefox then holds its timers to one a second.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface EngineRun {
  browser: TestBrowser;
  throttled: ThrottlingProxy;
  bufferedRun: Promise<PageRecord>;
  throttledRun: Promise<PageRecord & { carried: number }>;
}

let push: PushframeServer;
let site: ClickSite;
let buffering: BufferingProxy;
let publishing = true;
let publisher: Promise<void>;
const runs = new Map<string, EngineRun>();
const slugs = ENGINES.map(([engine]) => engineSlug(engine));

beforeAll(async () => {
  push = await startTestServer();
  site = await startClickSite(push);
  buffering = await startBufferingProxy(site.url);
  // Launched one after the other, before any page runs: the 3 s bound is for the page, not for a launch beside it.
  const launched: [string, TestBrowser, ThrottlingProxy][] = [];
  for (const [i, [engine, launch]] of ENGINES.entries()) {
    launched.push([slugs[i], await launch(), await startThrottlingProxy(site.url, { latencyMs: 300, bitsPerSecond: 64_000 })]);
    runs.set(engine, { browser: launched[i][1], throttled: launched[i][2] } as EngineRun);
  }
  publisher = (async () => {
    for (let n = 0; publishing && n < 400; n++) {
      await Promise.all(slugs.flatMap((s) => [push.hub.publish(`buffered/${s}`, { n }), push.hub.publish(`throttled/${s}`, { n })]));
      await sleep(250);
    }
  })();
  for (const [i, [engine]] of ENGINES.entries()) {
    const [slug, browser, throttled] = launched[i];
    const run = runs.get(engine)!;
    let clicked!: () => void;
    const bufferedClicked = new Promise<void>((r) => (clicked = r));
    run.bufferedRun = (async () => {
      const page = await browser.newPage();
      try {
        await openAndClick(page, `${buffering.url}/page?channel=buffered/${slug}`);
      } finally {
        clicked();
      }
      await waitInPage(page, 'window.__got.length >= 3', 'three messages behind the buffering proxy', 10_000);
      return record(page);
    })();
    run.throttledRun = (async () => {
      // After the other page's click: WebDriver runs one command at a time, and this page's load is long.
      await bufferedClicked;
      const page = await browser.newPage();
      // The page and the 46 KB bridge take a while at 64 kbit/s.
      await openAndClick(page, `${throttled.url}/page?channel=throttled/${slug}`, 30_000);
      await sleep(30_000);
      return { ...(await record(page)), carried: throttled.carried.down };
    })();
    // Failures are reported by the tests that await them.
    run.bufferedRun.catch(() => undefined);
    run.throttledRun.catch(() => undefined);
  }
}, 60_000);

afterAll(async () => {
  publishing = false;
  await publisher;
  for (const run of runs.values()) {
    await run.browser?.close();
    await run.throttled?.close();
  }
  await buffering?.close();
  await site?.close();
  await push?.close();
});

describe.each(ENGINES)('%s', (engine) => {
  test('behind a buffering proxy, with the defaults, the first message arrives within 3 s of connecting', async () => {
    const r = await runs.get(engine)!.bufferedRun;
    const first = r.got[0].at;
    process.stdout.write(`[${engine}] buffering proxy: first message ${first} ms after the click; events ${JSON.stringify(r.events.map((e) => `${e.type}${e.detail.name ? ':' + e.detail.name : ''}@${e.at}`))}\n`);
    expect(first).toBeLessThan(3000);
    expect(r.transport).toBe('longpoll');
    // In order, without gaps.
    const ns = r.got.map((g) => g.data.n);
    expect(ns).toEqual(ns.map((_, i) => ns[0] + i));
    expect(buffering.requests.get('/pushframe/stream')).toBeGreaterThanOrEqual(1);
  }, 40_000);

  test('on a slow but unbuffered link (64 kbit/s, 300 ms), with the defaults, the page stays on the stream for 30 s', async () => {
    const r = await runs.get(engine)!.throttledRun;
    const transports = r.events.filter((e) => e.type === 'transport').map((e) => e.detail.name);
    const opens = r.events.filter((e) => e.type === 'open');
    process.stdout.write(
      `[${engine}] throttled link: stream open ${opens[0]?.at} ms after the click; ${r.got.length} messages; ${r.carried} bytes down; events ${JSON.stringify(r.events.map((e) => e.type + (e.detail.code ? ':' + e.detail.code : '')))}\n`,
    );
    expect(transports).toEqual(['iframe']);
    expect(r.transport).toBe('iframe');
    expect(opens.map((e) => e.detail.transport)).toEqual(['iframe']);
    expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
    // Live all along: messages every 250 ms, the last one recent.
    expect(r.got.length).toBeGreaterThan(90);
    const ns = r.got.map((g) => g.data.n);
    expect(ns).toEqual(ns.map((_, i) => ns[0] + i));
  }, 80_000);
});
