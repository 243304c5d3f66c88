import type { PushframeServer } from '../../src';
import { engineSlug, inEveryEngineAtOnce, waitInPage, type Launch, type TestBrowser, type TestPage } from '../helpers/browsers';
import { expectEveryMessage, openAndClick, startClickSite, type ClickSite } from '../helpers/click-site';
import { startDocumentedNginx, upstreamFailures, type DocumentedNginx } from '../helpers/documented-nginx';
import { startTestServer } from '../helpers/server';

/**
 * A stream ends after `maxStreamBytes` (256 KiB by default) and the page asks for the
 * next one at once, through nginx as docs/scaling.md configures it (`keepalive 32` to the
 * nodes). Two tabs of one browser share one stream, connect from a click after `load`,
 * and get 1.5 KiB messages until the stream has been recycled several times: each tab
 * gets every message once, in order, and nginx logs no failed upstream request (a
 * request sent on a connection the stream had closed). The server's and the
 * bridge's default settings, in Chromium, Firefox ESR and WebKitGTK side by side.
 */

const MESSAGES = 600;
const PAD = 'x'.repeat(1500);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function recycling(engine: string, launch: Launch): Promise<void> {
  let node: PushframeServer | undefined;
  let app: ClickSite | undefined;
  let nginx: DocumentedNginx | undefined;
  let browser: TestBrowser | undefined;
  const pages: TestPage[] = [];
  try {
    node = await startTestServer({ trustProxy: 'loopback' });
    app = await startClickSite();
    // One node named twice (the doc's two upstream lines).
    [nginx, browser] = await Promise.all([
      startDocumentedNginx({ upstreams: [node.port, node.port], app: Number(new URL(app.url).port) }),
      launch(),
    ]);
    const channel = `recycle/${engineSlug(engine)}`;
    for (let i = 0; i < 2; i++) {
      const p = await browser.newPage();
      pages.push(p);
      await openAndClick(p, `${nginx.url}/page?channel=${channel}`);
    }
    for (const [i, p] of pages.entries()) await waitInPage(p, "window.__conn.state === 'open'", `tab ${i + 1} to open`, 10_000);
    const recycledBefore = node.stats().drops.recycle ?? 0;
    // 10 messages every 20 ms: about 60 KiB a second, a recycle every 4 s or so.
    for (let n = 0; n < MESSAGES; n++) {
      await node.hub.publish(channel, { n, pad: PAD });
      if (n % 10 === 9) await sleep(20);
    }
    await expectEveryMessage(pages, MESSAGES, 20_000);
    const recycled = (node.stats().drops.recycle ?? 0) - recycledBefore;
    process.stdout.write(`[${engine}] ${MESSAGES} messages of 1.5 KiB to two tabs sharing a stream: recycled ${recycled} times\n`);
    // ~900 KiB through one stream of at most 256 KiB.
    expect(recycled).toBeGreaterThanOrEqual(3);
    expect(upstreamFailures(nginx.errorLog())).toEqual([]);
  } finally {
    await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
    await browser?.close();
    await nginx?.stop();
    await app?.close();
    await node?.close();
  }
}

test('two tabs sharing a stream behind the documented nginx get every message once while the stream recycles (defaults)', async () => {
  await inEveryEngineAtOnce(recycling);
}, 120_000);
