import { existsSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startServer, type PushframeServer } from '../../src';
import { launchFirefox, launchWebKit, waitInPage } from '../helpers/browsers';
import { openStream, type StreamReader } from '../helpers/forever-frame';

/**
 * The demo dashboard in a real Chromium: server-rendered figures, then live updates
 * from pushframe messages only; the form publishes; without script the page still
 * shows figures and the form still works. In Firefox ESR and WebKitGTK: live figures,
 * ticker and form. Saves test-output/dashboard.png (the
 * README's docs/dashboard.png is a copy of it).
 */

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOT = join(__dirname, '..', '..', 'test-output', 'dashboard.png');

jest.setTimeout(60_000);

async function post(url: string, body: unknown): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.text();
  return res.status;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('demo dashboard in Chromium; stats every 150 ms and heartbeat 2 s (shortened)', () => {
  let server: PushframeServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium"`);
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', demo: true, statsIntervalMs: 150, heartbeatMs: 2000 });
    // launch() runs on a fresh temporary profile of its own, removed on close.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.close();
  });

  async function open(options: { javaScriptEnabled?: boolean; colorScheme?: 'light' | 'dark' } = {}): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, ...options });
    contexts.push(context);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(server.url + '/');
    return { page, errors };
  }

  const text = (page: Page, sel: string): Promise<string> => page.$eval(sel, (e) => e.textContent ?? '');

  it('shows server figures that change as messages are published, and publishes from its form', async () => {
    const base = server.url + server.config.prefix;
    expect(await post(`${base}/publish/demo/chat`, { name: 'Grace', text: 'Rendered by the server', at: Date.now() })).toBe(202);
    const { page, errors } = await open();

    // Server-rendered before any message: the ticker and figures are in the HTML.
    expect(await text(page, '#ticker')).toContain('Rendered by the server');
    await page.waitForSelector('#status.live', { timeout: 10_000 });
    expect(await text(page, '#transport-name')).toBe('iframe');

    const before = Number(await text(page, '#fig-total-in'));
    const chartBefore = await page.getAttribute('#chart-in-line', 'points');
    for (let i = 0; i < 25; i++) expect(await post(`${base}/publish/demo/news`, { headline: `story ${i}` })).toBe(202);
    await page.waitForFunction(() => (document.getElementById('ticker')?.textContent ?? '').includes('story 24'), null, { timeout: 5000 });
    await page.waitForFunction(
      (n) => Number(document.getElementById('fig-total-in')?.textContent) >= n,
      before + 25,
      { timeout: 5000 },
    );
    expect(await page.getAttribute('#chart-in-line', 'points')).not.toBe(chartBefore);
    expect(Number(await text(page, '#fig-connections'))).toBeGreaterThanOrEqual(1);
    // The ticker keeps a bounded number of lines.
    expect(await page.$$eval('#ticker li', (l) => l.length)).toBe(12);

    await page.fill('#name', 'Ada');
    await page.fill('#text', 'Sent from the form <b>not bold</b>');
    await page.click('#send');
    await page.waitForFunction(() => (document.getElementById('ticker')?.textContent ?? '').includes('Sent from the form'), null, { timeout: 5000 });
    expect(await page.$('#ticker b')).toBeNull();
    expect(await page.inputValue('#text')).toBe('');
    expect(errors).toEqual([]);
  });

  it('without script: figures are rendered on the server and the form posts and comes back', async () => {
    const { page } = await open({ javaScriptEnabled: false });
    expect(Number(await text(page, '#fig-connections'))).toBeGreaterThanOrEqual(0);
    // The server runs in the test runner's process, whose RSS may be past 1 GiB late in a run.
    expect(await text(page, '#fig-rss')).toMatch(/^[\d.]+ (MiB|GiB)$/);
    expect(await text(page, '#state')).toBe('static page');
    await page.fill('#text', 'Posted without JavaScript');
    await Promise.all([page.waitForNavigation(), page.click('#send')]);
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await text(page, '#ticker')).toContain('Posted without JavaScript');
  });

  it('refuses a cross-site post to the demo publish route', async () => {
    const status = (origin: string, accept = 'text/html'): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = http.request(server.url + '/demo/publish', {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin, accept },
        }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('text=hello');
      });
    expect(await status('https://evil.example')).toBe(403);
    expect(await status('null')).toBe(403);
    // The page's own origin: a form post is redirected back, a script's gets JSON.
    expect(await status(server.url)).toBe(303);
    expect(await status(server.url, 'application/json')).toBe(202);
  });

  it('looks right under load (screenshot for the docs)', async () => {
    // A server of its own, so the picture shows a realistic ticker, not the tests above.
    const shown = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', demo: true, statsIntervalMs: 150, heartbeatMs: 2000 });
    const base = shown.url + shown.config.prefix;
    const readers: StreamReader[] = [];
    let loading = true;
    let load: Promise<void> = Promise.resolve();
    try {
      const say = (channel: string, data: unknown): Promise<string> => shown.hub.publish(channel, data);
      await say('demo/deploys', { service: 'api', version: '2.4.0', status: 'done' });
      await say('demo/chat', { name: 'Grace', text: 'Morning! Rolling out 2.4.1 after the standup', at: Date.now() - 60_000 });
      const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      contexts.push(context);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(shown.url + '/');
      await page.waitForSelector('#status.live', { timeout: 10_000 });
      // Three more subscribers, so fan-out shows in the "out" figures.
      for (let i = 0; i < 3; i++) readers.push(await openStream(base, { channels: 'load/**' }));
      // Traffic whose rate rises and falls, running until the picture is taken.
      load = (async () => {
        const start = Date.now();
        let n = 0;
        while (loading && Date.now() - start < 30_000) {
          const t = (Date.now() - start) / 1000;
          const burst = Math.round(5 + 3 * Math.sin(t * 1.1) + 2 * Math.sin(t * 2.9));
          for (let i = 0; i < burst; i++) await shown.hub.publish(`load/${n % 4}`, { n: n++ });
          await sleep(20);
        }
      })();
      const feed: [string, unknown][] = [
        ['demo/deploys', { service: 'api', version: '2.4.1', status: 'rolling out' }],
        ['demo/chat', { name: 'Linus', text: 'p99 publish-to-receive is back under 5 ms', at: Date.now() }],
        ['demo/alerts', { level: 'warn', text: 'edge-3: RSS above 400 MiB for 5 minutes' }],
        ['demo/prices', { symbol: 'AEX', price: 912.4, change: '+0.6%' }],
        ['demo/deploys', { service: 'api', version: '2.4.1', status: 'done' }],
        ['demo/alerts', { level: 'ok', text: 'edge-3: RSS back to normal' }],
      ];
      for (const [channel, data] of feed) {
        await say(channel, data);
        await sleep(700);
      }
      expect(await post(shown.url + '/demo/publish', { name: 'Ada', text: 'Looks good from here: the figures move every 150 ms' })).toBe(202);
      await page.waitForFunction(() => (document.getElementById('ticker')?.textContent ?? '').includes('Looks good'), null, { timeout: 5000 });
      await sleep(2500);
      expect(Number(await text(page, '#fig-connections'))).toBe(4);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(statSync(SCREENSHOT).size).toBeLessThan(300 * 1024);
      expect(errors).toEqual([]);
    } finally {
      loading = false;
      await load;
      for (const r of readers) r.close();
      await shown.close();
    }
  });

  it.each([
    ['Firefox ESR', launchFirefox],
    ['WebKitGTK', launchWebKit],
  ] as const)('goes live in %s too: figures and ticker follow the messages, and the form publishes', async (name, launch) => {
    const other = await launch();
    try {
      const page = await other.newPage();
      await page.goto(server.url + '/');
      const until = (expression: string, what: string): Promise<void> => waitInPage(page, expression, `${name}: ${what}`, 10_000);
      await until(`document.getElementById('status').className === 'status live'`, 'the live status');
      expect(await page.evaluate(`document.getElementById('transport-name').textContent`)).toBe('iframe');
      const before = await page.evaluate<number>(`Number(document.getElementById('fig-total-in').textContent)`);
      expect(await post(`${server.url}${server.config.prefix}/publish/demo/engines`, { text: `seen in ${name}` })).toBe(202);
      await until(`document.getElementById('ticker').textContent.indexOf('seen in ${name}') !== -1`, 'the ticker line');
      await until(`Number(document.getElementById('fig-total-in').textContent) > ${before}`, 'the message count to grow');
      // The form, as a user sends it: typed text, then a real click on the button.
      await page.evaluate(`(document.getElementById('text').value = 'typed in ${name} <i>not italic</i>')`);
      await page.click('#send');
      await until(`document.getElementById('ticker').textContent.indexOf('typed in ${name}') !== -1`, 'the posted line');
      expect(await page.evaluate(`document.querySelectorAll('#ticker i').length`)).toBe(0);
      expect(await page.evaluate(`document.getElementById('text').value`)).toBe('');
    } finally {
      await other.close();
    }
  });
});
