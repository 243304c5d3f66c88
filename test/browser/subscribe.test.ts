import type { PushframeServer } from '../../src';
import { engineSlug, ENGINES, waitInPage, type TestBrowser } from '../helpers/browsers';
import { openAndClick, record, startClickSite, type ClickSite } from '../helpers/click-site';
import { startDocumentedNginx, type DocumentedNginx } from '../helpers/documented-nginx';
import { startTestServer } from '../helpers/server';

/**
 * `subscribe()` on a live connection, with the server's and the bridge's defaults, behind
 * nginx configured as docs/scaling.md shows. Two tabs of one profile connect from a
 * click after `load` and share one stream; then the second tab's page subscribes to a
 * second channel while messages flow on both. The shared stream re-opens with its
 * cursor: the second tab gets every message of both channels once, in order, and the
 * first tab only its own. In Chromium, Firefox ESR (where the first tab is hidden by
 * then) and WebKitGTK, each on its own channels.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

let push: PushframeServer;
let site: ClickSite;
let nginx: DocumentedNginx;

beforeAll(async () => {
  [push, site] = await Promise.all([startTestServer({ trustProxy: 'loopback' }), startClickSite()]);
  nginx = await startDocumentedNginx({ upstreams: [push.port, push.port], app: Number(new URL(site.url).port) });
}, 30_000);

afterAll(async () => {
  await nginx?.stop();
  await site?.close();
  await push?.close();
});

test.each(ENGINES)('%s: a page subscribes to a second channel while both flow: every message once, in order, in the tab that asked and only there (defaults)', async (engine, launch) => {
  const a = `sub/${engineSlug(engine)}/a`;
  const b = `sub/${engineSlug(engine)}/b`;
  let browser: TestBrowser | undefined;
  try {
    browser = await launch();
    const first = await browser.newPage();
    await openAndClick(first, `${nginx.url}/page?channel=${a}`);
    const second = await browser.newPage();
    await openAndClick(second, `${nginx.url}/page?channel=${a}`);
    for (const p of [first, second]) await waitInPage(p, "window.__conn.state === 'open'", 'an open connection', 10_000);

    // Channel a flows throughout. The page subscribes to b after 10 of them, and b's
    // first messages are published at once, while the shared stream re-opens.
    const A = 30;
    const B = 20;
    for (const n of range(A)) {
      if (n === A - B) {
        // As the page's own script would, on a person's choice.
        await second.evaluate(`(window.__conn.subscribe(${JSON.stringify(b)}), true)`);
      }
      await push.hub.publish(a, { n });
      if (n >= A - B) await push.hub.publish(b, { n: n - (A - B) });
      await sleep(50);
    }

    await waitInPage(second, `window.__got.length >= ${A + B}`, `${A + B} messages in the tab that subscribed`, 10_000);
    await waitInPage(first, `window.__got.length >= ${A}`, `${A} messages in the other tab`, 10_000);
    await sleep(300); // nothing more may arrive
    const [one, two] = [await record(first), await record(second)];
    const on = (r: typeof one, channel: string): number[] => r.got.filter((g) => g.channel === channel).map((g) => g.data.n);
    expect({ engine, a: on(two, a), b: on(two, b), total: two.got.length }).toEqual({ engine, a: range(A), b: range(B), total: A + B });
    expect({ engine, a: on(one, a), total: one.got.length }).toEqual({ engine, a: range(A), total: A });
    for (const r of [one, two]) {
      expect({ engine, errors: r.events.filter((e) => e.type === 'error'), resets: r.events.filter((e) => e.type === 'reset') }).toEqual({ engine, errors: [], resets: [] });
    }
  } finally {
    await browser?.close();
  }
}, 60_000);
