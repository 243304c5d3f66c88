import { ENGINES, waitInPage, type TestBrowser, type TestPage } from '../helpers/browsers';
import { startFallbackSite, type FallbackSite } from '../helpers/fallback-site';
import { startNginx, type Nginx } from '../helpers/nginx';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Each engine behind nginx configured as many sites are (`gzip on`, default buffering, a
 * short `proxy_read_timeout`): the bridge keeps its forever frame, never needs the
 * long-poll fallback, and messages arrive at once, also after idle periods longer
 * than the proxy timeout.
 */
describe.each(ENGINES)('bridge in %s behind nginx (gzip on, proxy_read_timeout 1s); heartbeat shortened to 300 ms, open timeout to 1.5 s', (_engine, launch) => {
  let browser: TestBrowser;
  let site: FallbackSite;
  let nginx: Nginx;
  let page: TestPage | undefined;

  beforeAll(async () => {
    [browser, site] = await Promise.all([
      launch(),
      startFallbackSite({ heartbeatMs: 300 }, 'openTimeoutMs: 1500, backoffMinMs: 100'),
    ]);
    nginx = await startNginx({
      upstream: new URL(site.direct).host,
      proxyReadTimeout: '1s',
      locationExtra: 'gzip on;',
    });
  }, 30000);

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    await nginx?.stop();
    await site?.close();
  });

  it('streams through the proxy without falling back, across idle periods', async () => {
    const channel = 'via/nginx';
    page = await browser.newPage();
    await page.goto(`${nginx.url}/page?channel=${encodeURIComponent(channel)}`);
    await waitInPage(
      page,
      "window.__events.some(function (e) { return e.type === 'pushframe:open'; })",
      'the stream to open',
      4000,
    );
    const published: string[] = [];
    for (let n = 0; n < 20; n++) {
      published.push(await site.push.hub.publish(channel, { n, sentAt: Date.now() }));
      await sleep(20);
    }
    await waitInPage(page, 'window.__got.length >= 20', '20 messages');
    await sleep(3000); // three proxy timeouts of silence but for heartbeats
    published.push(await site.push.hub.publish(channel, { n: 20, sentAt: Date.now() }));
    await waitInPage(page, 'window.__got.length >= 21', 'the message after the lull', 1000);
    const got = await page.evaluate<{ id: string; data: { sentAt: number }; at: number }[]>('window.__got');
    expect(got.map((g) => g.id)).toEqual(published);
    expect(Math.max(...got.map((g) => g.at - g.data.sentAt))).toBeLessThan(500);
    const events = await page.evaluate<{ type: string; detail: { name?: string } }[]>('window.__events');
    expect(events.filter((e) => e.type === 'pushframe:transport').map((e) => e.detail.name)).toEqual(['iframe']);
    expect(events.filter((e) => e.type === 'pushframe:open')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'pushframe:error')).toHaveLength(0);
  }, 30000);
});
