import { engineSlug, ENGINES, waitInPage, type TestBrowser, type TestPage } from '../helpers/browsers';
import { startFallbackSite, type FallbackSite } from '../helpers/fallback-site';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Got {
  id: string;
  data: { n: number };
}

/** The opt-in `sse` transport in a real EventSource: delivery, order, and resume across a cut. */
describe.each(ENGINES)('bridge over server-sent events in %s; heartbeat shortened to 500 ms, backoff to 100-400 ms', (engine, launch) => {
  let browser: TestBrowser;
  let site: FallbackSite;
  let page: TestPage | undefined;

  beforeAll(async () => {
    [browser, site] = await Promise.all([
      launch(),
      startFallbackSite(
        { heartbeatMs: 500 },
        "transports: ['sse', 'iframe', 'longpoll'], backoffMinMs: 100, backoffMaxMs: 400",
      ),
    ]);
  }, 30000);

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    await site?.close();
  });

  it('receives every message in order, exactly once, across a network cut', async () => {
    const channel = `sse/${engineSlug(engine)}`;
    page = await browser.newPage();
    await page.goto(`${site.direct}/page?channel=${encodeURIComponent(channel)}`);
    await waitInPage(
      page,
      "window.__events.some(function (e) { return e.type === 'pushframe:open'; })",
      'the event stream to open',
    );
    const published: string[] = [];
    for (let n = 0; n < 30; n++) published.push(await site.push.hub.publish(channel, { n }));
    await waitInPage(page, 'window.__got.length >= 30', '30 messages');
    site.cut();
    for (let n = 30; n < 60; n++) {
      published.push(await site.push.hub.publish(channel, { n }));
      await sleep(10);
    }
    await waitInPage(page, 'window.__got.length >= 60', '60 messages', 8000);
    await sleep(300);
    const got = await page.evaluate<Got[]>('window.__got');
    expect(got.map((g) => g.data.n)).toEqual(published.map((_, n) => n));
    expect(got.map((g) => g.id)).toEqual(published);
    const events =
      await page.evaluate<{ type: string; detail: { name?: string; transport?: string } }[]>('window.__events');
    expect(events.filter((e) => e.type === 'pushframe:transport').map((e) => e.detail.name)).toEqual(['sse']);
    const opens = events.filter((e) => e.type === 'pushframe:open');
    expect(opens.length).toBeGreaterThanOrEqual(2); // reconnected after the cut
    expect(opens.every((e) => e.detail.transport === 'sse')).toBe(true);
  }, 30000);
});

/** A refusal must reach the page as what it is: EventSource reads nothing of an HTTP error. */
describe.each(ENGINES)('a refused event stream in %s (defaults)', (_engine, launch) => {
  let browser: TestBrowser;
  let site: FallbackSite;

  beforeAll(async () => {
    [browser, site] = await Promise.all([launch(), startFallbackSite({}, "transports: ['sse']")]);
  }, 30000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('a page subscribing to a bad channel name gets bad_pattern and the connection closes, without retrying', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.direct}/page?channel=${encodeURIComponent('not a channel')}&nosince`);
    await waitInPage(page, "window.__events.some(function (e) { return e.type === 'pushframe:close'; })", 'the connection to close');
    await sleep(1500); // longer than the bridge's first backoff: a retry would show
    const events = await page.evaluate<{ type: string; detail: { code?: string; name?: string } }[]>('window.__events');
    expect(events.map((e) => [e.type, e.detail.name ?? e.detail.code])).toEqual([
      ['pushframe:transport', 'sse'],
      ['pushframe:error', 'bad_pattern'],
      ['pushframe:close', undefined],
    ]);
    await page.close();
  }, 30000);
});
