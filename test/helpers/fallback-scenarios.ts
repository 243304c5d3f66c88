import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitInPage, type TestBrowser, type TestPage } from './browsers';
import { startFallbackSite, type FallbackSite } from './fallback-site';

interface Got {
  channel: string;
  id: string;
  data: { n: number; sentAt: number };
  at: number;
}

interface PageEvent {
  type: string;
  detail: { name?: string; code?: string; transport?: string };
  at: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const OUTPUT_DIR = join(__dirname, '..', '..', 'test-output');

/**
 * A real browser behind a proxy that holds every response until it completes: the
 * forever frame shows nothing, the bridge falls back to long-poll, probes the stream
 * again later, falls back again, and the page receives every message in order, once.
 */
export function fallbackScenarios(launch: () => Promise<TestBrowser>): void {
  let browser: TestBrowser;
  let site: FallbackSite;
  let page: TestPage | undefined;

  beforeAll(async () => {
    [browser, site] = await Promise.all([
      launch(),
      startFallbackSite(
        { heartbeatMs: 500, pollTimeoutMs: 2000 },
        'openTimeoutMs: 1500, reprobeMs: 3000, backoffMinMs: 100, backoffMaxMs: 400',
      ),
    ]);
  }, 30000);

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    await site?.close();
  });

  it('receives every message in order via long-poll, through the stream probe and back, within seconds', async () => {
    const channel = 'behind/proxy';
    page = await browser.newPage();
    await page.goto(`${site.proxy.url}/page?channel=${encodeURIComponent(channel)}`);
    const published: string[] = [];
    // 90 messages over ~9 s: before the fallback, during polling, and during the probe.
    for (let n = 0; n < 90; n++) {
      published.push(await site.push.hub.publish(channel, { n, sentAt: Date.now() }));
      await sleep(100);
    }
    await waitInPage(page, 'window.__got.length >= 90', '90 messages', 10000);
    await sleep(500); // nothing more may arrive
    const got = await page.evaluate<Got[]>('window.__got');
    const events = await page.evaluate<PageEvent[]>('window.__events');

    expect(got.map((g) => g.data.n)).toEqual(published.map((_, n) => n));
    expect(got.map((g) => g.id)).toEqual(published);
    const transports = events.filter((e) => e.type === 'pushframe:transport').map((e) => e.detail.name);
    // iframe (nothing arrives), long-poll, the probe of the iframe after reprobeMs, long-poll again.
    expect(transports.slice(0, 4)).toEqual(['iframe', 'longpoll', 'iframe', 'longpoll']);
    const opens = events.filter((e) => e.type === 'pushframe:open');
    expect(opens.length).toBeGreaterThanOrEqual(1);
    expect(opens.every((e) => e.detail.transport === 'longpoll')).toBe(true);
    const errors = events.filter((e) => e.type === 'pushframe:error').map((e) => e.detail.code);
    expect(errors.every((code) => code === 'timeout')).toBe(true);
    // The page's clock and the test's are the same machine's.
    const lags = got.map((g) => g.at - g.data.sentAt);
    const firstPollOpen = opens[0].at;
    expect(firstPollOpen).toBeLessThan(4000);
    // Latency is bounded by the worst case: a message published while a probe waits
    // out its open deadline (1.5 s) comes with the next poll.
    expect(Math.max(...lags)).toBeLessThan(3000);
    expect(site.proxy.requests.get('/pushframe/poll')).toBeGreaterThan(2);
    expect(site.proxy.requests.get('/pushframe/stream')).toBeGreaterThanOrEqual(2);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot(join(OUTPUT_DIR, `fallback-${browser.name}.png`));
    const sorted = [...lags].sort((a, b) => a - b);
    // Figures for the record (docs/fallbacks.md); not assertions.
    process.stdout.write(
      `fallback ${browser.name}: longpoll open at ${firstPollOpen} ms; lag p50 ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms over ${lags.length} messages\n`,
    );
  }, 40000);

  it('without a since in the page, learns its position at once and loses nothing in the fall to long-poll', async () => {
    await page?.close();
    const channel = 'behind/proxy/nosince';
    page = await browser.newPage();
    await page.goto(`${site.proxy.url}/page?nosince=1&channel=${encodeURIComponent(channel)}`);
    await waitInPage(page, "window.__conn.cursor() !== ''", 'the position', 3000);
    const stillIframe = await page.evaluate<string>('window.__conn.transport');
    const published: string[] = [];
    for (let n = 0; n < 30; n++) {
      published.push(await site.push.hub.publish(channel, { n, sentAt: Date.now() }));
      await sleep(50);
    }
    await waitInPage(page, 'window.__got.length >= 30', '30 messages', 8000);
    await sleep(300);
    const got = await page.evaluate<Got[]>('window.__got');
    expect(stillIframe).toBe('iframe'); // the position came before the fall to long-poll
    expect(got.map((g) => g.id)).toEqual(published);
    expect(await page.evaluate<string>('window.__conn.transport')).toBe('longpoll');
  }, 30000);
}
