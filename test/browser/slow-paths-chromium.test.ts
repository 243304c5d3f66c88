import type { PushframeServer } from '../../src';
import { launchChromium, waitInPage, type TestBrowser } from '../helpers/browsers';
import { startBufferingProxy, type BufferingProxy } from '../helpers/buffering-proxy';
import { openAndClick, record, startClickSite, type ClickSite, type PageRecord } from '../helpers/click-site';
import { startTestServer } from '../helpers/server';
import { startThrottlingProxy, type ThrottlingProxy } from '../helpers/throttling-proxy';

/**
 * The bridge's and the server's DEFAULT settings, in Chromium, on two hard paths: a proxy
 * that buffers whole responses (the stream never shows a byte) and a slow link that holds
 * nothing back (64 kbit/s, 300 ms each way). The first must be live within 3 s of the
 * click; the second must stay on the stream. Both pages run at once.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let browser: TestBrowser;
let push: PushframeServer;
let site: ClickSite;
let buffering: BufferingProxy;
let throttled: ThrottlingProxy;
let publishing = true;
let publisher: Promise<void>;
let bufferedRun: Promise<PageRecord>;
let throttledRun: Promise<PageRecord & { carried: number }>;

beforeAll(async () => {
  push = await startTestServer();
  site = await startClickSite(push);
  [browser, buffering, throttled] = await Promise.all([
    launchChromium(),
    startBufferingProxy(site.url),
    startThrottlingProxy(site.url, { latencyMs: 300, bitsPerSecond: 64_000 }),
  ]);
  publisher = (async () => {
    for (let n = 0; publishing && n < 400; n++) {
      await Promise.all([push.hub.publish('buffered', { n }), push.hub.publish('throttled', { n })]);
      await sleep(250);
    }
  })();
  bufferedRun = (async () => {
    const page = await browser.newPage();
    await openAndClick(page, `${buffering.url}/page?channel=buffered`);
    await waitInPage(page, 'window.__got.length >= 3', 'three messages behind the buffering proxy', 10_000);
    return record(page);
  })();
  throttledRun = (async () => {
    const page = await browser.newPage();
    // The page and the 46 KB bridge take a while at 64 kbit/s.
    await openAndClick(page, `${throttled.url}/page?channel=throttled`, 30_000);
    await sleep(30_000);
    return { ...(await record(page)), carried: throttled.carried.down };
  })();
  // Failures are reported by the tests that await them.
  bufferedRun.catch(() => undefined);
  throttledRun.catch(() => undefined);
}, 30_000);

afterAll(async () => {
  publishing = false;
  await publisher;
  await browser?.close();
  await Promise.all([buffering?.close(), throttled?.close()]);
  await site?.close();
  await push?.close();
});

test('behind a buffering proxy, with the defaults, the first message arrives within 3 s of connecting', async () => {
  const r = await bufferedRun;
  const first = r.got[0].at;
  process.stdout.write(`buffering proxy: first message ${first} ms after the click; transports ${JSON.stringify(r.events.filter((e) => e.type === 'transport').map((e) => e.detail.name))}\n`);
  expect(first).toBeLessThan(3000);
  expect(r.transport).toBe('longpoll');
  // In order, without gaps.
  const ns = r.got.map((g) => g.data.n);
  expect(ns).toEqual(ns.map((_, i) => ns[0] + i));
  expect(buffering.requests.get('/pushframe/stream')).toBeGreaterThanOrEqual(1);
}, 40_000);

test('on a slow but unbuffered link (64 kbit/s, 300 ms), with the defaults, the page stays on the stream for 30 s', async () => {
  const r = await throttledRun;
  const transports = r.events.filter((e) => e.type === 'transport').map((e) => e.detail.name);
  const opens = r.events.filter((e) => e.type === 'open');
  process.stdout.write(
    `throttled link: stream open ${opens[0]?.at} ms after the click; ${r.got.length} messages; ${r.carried} bytes down; events ${JSON.stringify(r.events.map((e) => e.type + (e.detail.code ? ':' + e.detail.code : '')))}\n`,
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
