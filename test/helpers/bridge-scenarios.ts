import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startBridgeSite, type BridgeFile, type BridgeSite } from './bridge-pages';
import { waitInPage, type TestBrowser, type TestPage } from './browsers';

interface Got {
  channel: string;
  id: string;
  data: unknown;
}

interface PageEvent {
  type: string;
  detail: unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

export const OUTPUT_DIR = join(__dirname, '..', '..', 'test-output');

/** The bridge's end-to-end behaviour in one real browser (same-origin and cross-origin pages). */
export function bridgeScenarios(launch: () => Promise<TestBrowser>, bridge: BridgeFile = 'served'): void {
  let browser: TestBrowser;
  let site: BridgeSite;
  let recycling: BridgeSite;
  let page: TestPage | undefined;

  beforeAll(async () => {
    [browser, site, recycling] = await Promise.all([
      launch(),
      startBridgeSite({ heartbeatMs: 500, bridge }),
      // Streams recycled (p.r) after every few messages.
      startBridgeSite({ heartbeatMs: 500, maxStreamBytes: 4096, bridge }),
    ]);
  }, 30000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await recycling?.close();
  });

  afterEach(async () => {
    await page?.close();
    page = undefined;
  });

  async function openPage(origin: 'same' | 'cross', channel: string, on: BridgeSite = site, waitOpen = true): Promise<TestPage> {
    page = await browser.newPage();
    const base = origin === 'same' ? on.sameOrigin : on.crossOrigin;
    await page.goto(base + '/page?channels=' + encodeURIComponent(channel));
    if (!waitOpen) return page;
    await waitInPage(page, "window.__events && window.__events.some(function (e) { return e.type === 'pushframe:open'; })", 'the stream to open');
    return page;
  }

  const got = (p: TestPage): Promise<Got[]> => p.evaluate<Got[]>('window.__got');
  const events = (p: TestPage): Promise<PageEvent[]> => p.evaluate<PageEvent[]>('window.__events');
  const count = (list: PageEvent[], type: string): number => list.filter((e) => e.type === 'pushframe:' + type).length;

  /** Every message exactly once, in publish order, with ids increasing. */
  function expectExactlyOnceInOrder(list: Got[], channel: string, n: number): void {
    expect(list.map((g) => (g.data as { n: number }).n)).toEqual(range(0, n));
    expect(list.every((g) => g.channel === channel)).toBe(true);
    const ids = list.map((g) => Number(g.id));
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
  }

  it('same-origin page: a stream the server refuses reports its error code and stops', async () => {
    const p = await openPage('same', 'fine,bad/..', site, false);
    await waitInPage(p, "window.__events.some(function (e) { return e.type === 'pushframe:close'; })", 'the connection to close');
    const ev = await events(p);
    expect(ev.map((e) => e.type)).toEqual(['pushframe:transport', 'pushframe:error', 'pushframe:close']);
    expect(ev[1].detail).toMatchObject({ code: 'bad_pattern' });
    expect(await p.evaluate<number>("document.getElementsByTagName('iframe').length")).toBe(0);
  });

  for (const origin of ['same', 'cross'] as const) {
    describe(`${origin}-origin page`, () => {
      it('receives 100 messages as DOM events, in order, exactly once', async () => {
        const channel = `order/${origin}`;
        const p = await openPage(origin, channel);
        // Half one by one, half in one burst (batched into few p.m frames by the server).
        for (const i of range(0, 50)) await site.push.hub.publish(channel, { n: i });
        await Promise.all(range(50, 100).map((i) => site.push.hub.publish(channel, { n: i })));
        await waitInPage(p, 'window.__got.length >= 100', '100 messages');
        await sleep(300); // nothing more may arrive
        expectExactlyOnceInOrder(await got(p), channel, 100);
        const ev = await events(p);
        expect(ev[0]).toEqual({ type: 'pushframe:transport', detail: { name: 'iframe' } });
        expect(count(ev, 'open')).toBe(1);
        expect(count(ev, 'error')).toBe(0);
        const src = await p.evaluate<string>("document.getElementsByTagName('iframe')[0].src");
        if (origin === 'cross') expect(src).toContain('origin=' + encodeURIComponent(site.crossOrigin));
        else expect(src).not.toContain('origin=');
        mkdirSync(OUTPUT_DIR, { recursive: true });
        await p.screenshot(join(OUTPUT_DIR, `bridge-${browser.name}-${origin}-origin.png`));
      });

      it('delivers hostile payloads intact and never runs them', async () => {
        const channel = `hostile/${origin}`;
        const p = await openPage(origin, channel);
        const payloads: unknown[] = [
          '</script><script>window.__pwned=1</script>',
          '<!--<script>',
          'line\u2028separator\u2029paragraph',
          { html: '</script><script>parent.__pwned=1</script>', comment: '<!--<script>', amp: '&lt;&amp;' },
          ['"\'\\', 'é 漢字 😀', null, true, 1.5],
        ];
        for (const data of payloads) await site.push.hub.publish(channel, data);
        await waitInPage(p, `window.__got.length >= ${payloads.length}`, 'the hostile payloads');
        await sleep(200);
        const list = await got(p);
        expect(list.map((g) => g.data)).toEqual(payloads);
        const pwned = await p.evaluate<boolean>(
          '(function () { var i, hit = !!window.__pwned; for (i = 0; i < window.frames.length; i++) { try { hit = hit || !!window.frames[i].__pwned; } catch (e) {} } return hit; })()',
        );
        expect(pwned).toBe(false);
      });

      it('loses nothing across server-side recycling (p.r every few KiB)', async () => {
        const channel = `recycle/${origin}`;
        const p = await openPage(origin, channel, recycling);
        const pad = 'x'.repeat(200);
        // In groups the page must see first, so that each group lands on a fresh stream
        // (published all at once, most would arrive as one backlog after the first recycle).
        for (let g = 0; g < 100; g += 10) {
          for (const i of range(g, g + 10)) await recycling.push.hub.publish(channel, { n: i, pad });
          await waitInPage(p, `window.__got.length >= ${g + 10}`, `message ${g + 9} over recycled streams`);
        }
        await sleep(300);
        expectExactlyOnceInOrder(await got(p), channel, 100);
        const ev = await events(p);
        expect(count(ev, 'open')).toBeGreaterThanOrEqual(5);
        expect(count(ev, 'error')).toBe(0);
        expect(count(ev, 'reset')).toBe(0);
      });

      it('loses nothing when the connection is cut mid-stream', async () => {
        const channel = `cut/${origin}`;
        const p = await openPage(origin, channel);
        for (const i of range(0, 50)) await site.push.hub.publish(channel, { n: i });
        await waitInPage(p, 'window.__got.length >= 50', 'the first 50 messages');
        site.cut(origin);
        for (const i of range(50, 100)) await site.push.hub.publish(channel, { n: i });
        await waitInPage(p, 'window.__got.length >= 100', 'all 100 messages after the cut', 10000);
        await sleep(300);
        expectExactlyOnceInOrder(await got(p), channel, 100);
        const ev = await events(p);
        expect(count(ev, 'error')).toBeGreaterThanOrEqual(1);
        expect(count(ev, 'open')).toBeGreaterThanOrEqual(2);
        expect(count(ev, 'reset')).toBe(0);
      });
    });
  }
}
