import type { PushframeServer, StartOptions } from '../../src';
import { inEveryEngineAtOnce, waitInPage, type Launch, type TestBrowser, type TestPage } from '../helpers/browsers';
import { expectEveryMessage, openAndClick, record, startClickSite, type ClickSite } from '../helpers/click-site';
import { startDocumentedNginx, upstreamFailures, type DocumentedNginx } from '../helpers/documented-nginx';
import { startRedis, type TestRedis } from '../helpers/redis';
import { startTestServer } from '../helpers/server';
import { freePort } from '../helpers/ports';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

/**
 * Dead stream paths behind nginx configured as docs/scaling.md shows (two nodes on one
 * Redis), with the server's and the bridge's default settings. Three tabs of one browser
 * (two share a stream, one holds its own) lose their streams' flows between the browser
 * and nginx, as when a laptop changes networks: nothing reaches nginx, which keeps both
 * streams open to their node. Each page notices, reconnects through nginx and names its
 * dead stream (`replaces=`). So that the new requests surely reach the other node, the
 * streams open while only node A listens, and A stops accepting when B starts: the
 * dead streams are ended on A by B's notes, through Redis. In Chromium, Firefox ESR and
 * WebKitGTK side by side, each with its own Redis, nodes, nginx and proxy.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function deadPaths(engine: string, launch: Launch): Promise<void> {
  const redis: TestRedis = await startRedis();
  const nodeOptions = (): StartOptions => ({ broker: redis.url, trustProxy: 'loopback' });
  let nodeA: PushframeServer | undefined;
  let nodeB: PushframeServer | undefined;
  let nginx: DocumentedNginx | undefined;
  let app: ClickSite | undefined;
  let proxy: TcpProxy | undefined;
  let browser: TestBrowser | undefined;
  const pages: TestPage[] = [];
  try {
    /** Node B's port, named in nginx's upstream before B listens. */
    let portB: number;
    [nodeA, portB] = await Promise.all([startTestServer(nodeOptions()), freePort()]);
    const a = nodeA;
    app = await startClickSite();
    [nginx, browser] = await Promise.all([
      startDocumentedNginx({ upstreams: [a.port, portB], app: Number(new URL(app.url).port) }),
      launch(),
    ]);
    const nginxPort = Number(new URL(nginx.url).port);
    const front = (proxy = await startTcpProxy(() => [nginxPort]));

    const urls = ['share', 'share', 'own'].map((kind) => `${front.url}/page?channel=behind/nginx${kind === 'own' ? '&share=0' : ''}`);
    for (const url of urls) {
      const p = await browser.newPage();
      pages.push(p);
      await openAndClick(p, url);
    }
    for (const p of pages) await waitInPage(p, "window.__conn.state === 'open'", 'an open stream', 8000);
    await until('the two streams on node A (one shared by two tabs, one of its own)', () => a.stats().connections.total === 2, 5000);

    let n = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing && n < 600) {
        await a.hub.publish('behind/nginx', { n });
        n++;
        await sleep(100);
      }
    })();
    try {
      await sleep(1000);
      // B refused the pages' first requests; nginx (max_fails=0) tries it again at once.
      const b = (nodeB = await startTestServer({ ...nodeOptions(), port: portB }));
      // A stops accepting (its open streams stay; close's callback would wait for them).
      a.http.close();
      expect(a.http.listening).toBe(false);
      const faultAt = n;
      front.blackhole((path) => path.startsWith('/pushframe/stream'));
      // The default watchdog notices within 6 s; the pages come back through nginx, on B.
      for (const [i, p] of pages.entries()) {
        await waitInPage(p, `window.__got.some(function (g) { return g.data.n > ${faultAt + 5}; })`, 'messages after the fault', 20_000).catch(
          async (err: Error) => {
            const log = nginx?.errorLog() ?? '';
            throw new Error(`tab ${i + 1} of ${urls.length}: ${err.message}; fault at n = ${faultAt}; ${await story(pages)}; nginx: ${nginxStory(log)}`);
          },
        );
      }
      await until('both dead streams ended on node A', () => (a.stats().drops.replaced ?? 0) === 2, 5000);
      // A tab may be over its browser's budget on B while the shared stream moves
      // (answered, then back after 2 s, maybe more than once on a loaded machine): the two
      // streams settle on B.
      const where = (): string => `A ${a.stats().connections.total}, B ${b.stats().connections.total}`;
      await until('both streams on node B', () => where() === 'A 0, B 2', 15_000).catch((err: Error) => {
        throw new Error(`${err.message} (streams now: ${where()})`);
      });
    } finally {
      publishing = false;
      await publisher;
    }
    for (const r of await expectEveryMessage(pages, n)) expect(r.transport).toBe('iframe');
    // The dead streams ended on A as complete responses, and no node was set aside.
    expect(upstreamFailures(nginx.errorLog())).toEqual([]);
    process.stdout.write(`[${engine}] dead paths behind nginx: ${n} messages, both dead streams ended on node A, both streams on node B\n`);
  } finally {
    await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
    await browser?.close();
    await proxy?.close();
    await nginx?.stop();
    await app?.close();
    await Promise.all([nodeA, nodeB].map((node) => node?.close()));
    await redis.stop();
  }
}

/** What each tab saw, for a failure's message: its state, visibility, last message, events. */
async function story(pages: TestPage[]): Promise<string> {
  const lines = await Promise.all(
    pages.map(async (p, i) => {
      const r = await record(p).catch(() => null);
      if (!r) return `tab ${i + 1}: gone`;
      const state = await p.evaluate<string>("window.__conn.state + ', ' + document.visibilityState").catch(() => '?');
      const last = r.got.length ? r.got[r.got.length - 1] : null;
      const events = r.events.map((e) => `${e.type}${e.detail.code ? ':' + e.detail.code : ''}@${e.at}`).join(' ');
      return `tab ${i + 1}: ${state}; ${r.got.length} messages, last n ${last ? last.data.n : '-'} at ${last ? last.at : '-'} ms; events ${events}`;
    }),
  );
  return lines.join(' | ');
}

/** nginx's error log in short: time, what went wrong, with which node, for which path. */
function nginxStory(errorLog: string): string {
  return errorLog
    .split('\n')
    .filter((line) => /\[(error|warn)\]/.test(line))
    .map((line) => {
      const what = /(no live upstreams|prematurely closed|temporarily disabled|Connection refused|timed out)/.exec(line)?.[1] ?? line.slice(20, 120);
      const node = /upstream: "http:\/\/([^/"]*)/.exec(line)?.[1] ?? '';
      const path = /request: "GET ([^?"]*)/.exec(line)?.[1] ?? '';
      return `${line.slice(11, 19)} ${what} ${node} ${path}`;
    })
    .join(' / ');
}

test('streams dead between the browser and nginx end on their node when the pages reconnect to the other, with the default settings; nothing lost', async () => {
  await inEveryEngineAtOnce(deadPaths);
}, 120_000);
