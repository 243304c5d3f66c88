import type { PushframeServer, StartOptions } from '../../src';
import { inEveryEngineAtOnce, waitInPage, type Launch, type TestBrowser } from '../helpers/browsers';
import { expectEveryMessage, openAndClick, startClickSite, type ClickSite } from '../helpers/click-site';
import { startDocumentedNginx, type DocumentedNginx } from '../helpers/documented-nginx';
import { startRedis, type TestRedis } from '../helpers/redis';
import { startTestServer } from '../helpers/server';

/**
 * A rolling restart behind nginx configured as docs/scaling.md shows: of two nodes on one
 * Redis, the one holding a page's stream is stopped gracefully (SIGTERM's path) and started
 * again while messages flow. The page must see no error and lose nothing. In Chromium,
 * Firefox ESR and WebKitGTK side by side, each with its own Redis, nodes and nginx.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, pred: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function rollingRestart(engine: string, launch: Launch): Promise<void> {
  const redis: TestRedis = await startRedis();
  const nodeOptions = (): StartOptions => ({ broker: redis.url, trustProxy: 'loopback' });
  const nodes: PushframeServer[] = [];
  let nginx: DocumentedNginx | undefined;
  let app: ClickSite | undefined;
  let browser: TestBrowser | undefined;
  try {
    nodes.push(await startTestServer(nodeOptions()), await startTestServer(nodeOptions()));
    app = await startClickSite();
    [nginx, browser] = await Promise.all([
      startDocumentedNginx({ upstreams: [nodes[0].port, nodes[1].port], app: Number(new URL(app.url).port) }),
      launch(),
    ]);
    const web = nginx;
    // Four tabs of one browser: two share one stream (the default), two hold their own
    // (share: false), so streams sit on both nodes and a shared one moves with its leader.
    const pages = await Promise.all([0, 1, 2, 3].map(() => (browser as TestBrowser).newPage()));
    for (const [i, p] of pages.entries()) await openAndClick(p, `${web.url}/page?channel=rolling${i < 2 ? '' : '&share=0'}`);
    for (const p of pages) await waitInPage(p, "window.__conn.state === 'open'", 'an open stream', 5000);
    const open = (): number => nodes[0].stats().connections.total + nodes[1].stats().connections.total;
    expect(open()).toBe(3);

    let n = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing && n < 1000) {
        // Alternating nodes; while one is stopped both entries name the live one.
        try {
          await nodes[n % 2].hub.publish('rolling', { n });
          n++;
        } catch {
          // stopped under our feet: the same message again next round
        }
        await sleep(50);
      }
    })();
    const moved: number[] = [];
    const drained: number[] = [];
    try {
      for (const victim of [0, 1]) {
        await sleep(500);
        // The streams on the node about to stop (nginx may have put them all on one node).
        moved.push(nodes[victim].stats().connections.total);
        const port = nodes[victim].port;
        const other = nodes[1 - victim];
        const started = Date.now();
        const stopping = nodes[victim].shutdown();
        nodes[victim] = other; // publishers and counters use the live node meanwhile
        await stopping;
        drained.push(Date.now() - started);
        nodes[victim] = await startTestServer({ ...nodeOptions(), port });
        // Every page is back on a stream (the reconnect jitter is up to 5 s by default).
        await until('all pages to reconnect', () => open() === 3, 15_000);
      }
      await sleep(500);
    } finally {
      publishing = false;
      await publisher;
    }
    const total = n;
    for (const r of await expectEveryMessage(pages, total)) {
      expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
      expect(r.transport).toBe('iframe');
    }
    process.stdout.write(`[${engine}] rolling restart: streams moved ${JSON.stringify(moved)}, drained in ${JSON.stringify(drained)} ms, ${total} messages, no errors\n`);
  } finally {
    await browser?.close();
    await nginx?.stop();
    await app?.close();
    // A node stopped in the scenario was replaced in the list by the live one: close each once.
    await Promise.all([...new Set(nodes)].map((node) => node.close()));
    await redis.stop();
  }
}

test('a rolling restart, one node after the other, while pages stream, with the default settings: no pushframe:error, nothing lost', async () => {
  await inEveryEngineAtOnce(rollingRestart);
}, 120_000);
