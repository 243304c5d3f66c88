import type { PushframeServer } from '../../src';
import { ENGINES, waitInPage, type TestBrowser, type TestPage } from '../helpers/browsers';
import { startBufferingProxy, type BufferingProxy } from '../helpers/buffering-proxy';
import { openAndClick, record, startClickSite, type ClickSite } from '../helpers/click-site';
import { startTestServer } from '../helpers/server';

/**
 * Two tabs of one profile behind a proxy that buffers streams, so the bridge long-polls,
 * with the server's and the bridge's defaults. The first tab connects from a click and
 * leads; the person then opens a second tab of the same page, which connects from a
 * click and follows, and the first tab is now in the background. Browsers hold a hidden
 * tab's timers to one a second (headless Firefox does; headless Chromium and WebKitGTK
 * keep every tab visible), so a leader that waited for a timer between polls would hand
 * the visible tab each message up to a second late.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MESSAGES = 30;

describe.each(ENGINES)('a long-polling leader in a background tab, in %s (defaults)', (engine, launch) => {
  let browser: TestBrowser;
  let push: PushframeServer;
  let site: ClickSite;
  let proxy: BufferingProxy;
  const channel = `bg/${engine.split(' ')[0].toLowerCase()}`;

  beforeAll(async () => {
    push = await startTestServer();
    site = await startClickSite(push);
    [browser, proxy] = await Promise.all([launch(), startBufferingProxy(site.url)]);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await site?.close();
    await push?.close();
  });

  it('the visible tab gets every message promptly, in order, through the hidden leader', async () => {
    const first = await browser.newPage();
    await openAndClick(first, `${proxy.url}/page?channel=${channel}`);
    await waitInPage(first, "window.__conn.state === 'open'", 'the first tab to open', 10_000);
    const second: TestPage = await browser.newPage();
    await openAndClick(second, `${proxy.url}/page?channel=${channel}`);
    await waitInPage(second, "window.__conn.state === 'open'", 'the second tab to open', 10_000);
    const hidden = await first.evaluate<string>('document.visibilityState');
    // The case this is about; the other engines check the same delivery with both tabs visible.
    if (engine === 'Firefox ESR') expect(hidden).toBe('hidden');

    const sentAt: number[] = [];
    for (let n = 0; n < MESSAGES; n++) {
      sentAt.push(Date.now());
      await push.hub.publish(channel, { n });
      await sleep(150);
    }
    await waitInPage(second, `window.__got.length >= ${MESSAGES}`, `${MESSAGES} messages in the visible tab`, 10_000);
    await sleep(300);
    const r = await record(second);
    const clickedAt = await second.evaluate<number>('window.__clickedAt');
    const delays = r.got.map((g) => clickedAt + g.at - sentAt[g.data.n]);
    process.stdout.write(
      `[${engine}] first tab ${hidden}; visible tab on ${r.transport}: delay median ${delays.slice().sort((a, b) => a - b)[delays.length >> 1]} ms, max ${Math.max(...delays)} ms\n`,
    );
    expect(r.got.map((g) => g.data.n)).toEqual(Array.from({ length: MESSAGES }, (_, i) => i));
    expect(r.transport).toBe('longpoll');
    expect(r.events.filter((e) => e.type === 'error' && e.detail.code !== 'timeout')).toEqual([]);
    // A poll's round trip on loopback is a few ms; a second's wait between polls shows here.
    expect(Math.max(...delays)).toBeLessThan(500);
    await second.close();
    await first.close();
  }, 60_000);
});
