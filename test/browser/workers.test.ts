import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { ENGINES, waitInPage, type TestBrowser, type TestPage } from '../helpers/browsers';
import { ensureBuilt, startCli, type CliServer } from '../helpers/child';
import { openAndClick, record, startClickSite, type ClickSite } from '../helpers/click-site';
import { startDocumentedNginx, type DocumentedNginx } from '../helpers/documented-nginx';
import { freePort } from '../helpers/ports';

/**
 * `--workers 2` as docs/scaling.md shows it, behind nginx configured exactly as the doc
 * shows (both upstream entries point at the cluster's one port), with the server's and
 * the bridge's defaults. Two tabs of one browser profile connect from a click after
 * `load`; every worker is then killed (SIGKILL) while messages go on being published.
 * The primary holds the memory broker, so history outlives its workers: the tabs resume
 * from their cursors on the replacement workers and get every message once, in order.
 * In Chromium, Firefox ESR and WebKitGTK, one after the other, each with its own cluster.
 */

const CHANNEL = 'workers/tabs';

function publish(base: string, n: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(`${base}/pushframe/publish/${CHANNEL}`, { method: 'POST', agent: false, timeout: 3000, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end(JSON.stringify({ n }));
  });
}

/** Publishes message n, retrying (bounded) while the workers are being replaced. */
async function publishSurely(base: string, n: number): Promise<void> {
  const statuses: number[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    const status = await publish(base, n);
    if (status === 202) return;
    statuses.push(status);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`message ${n} could not be published within 10 s (answers: ${statuses.join(' ')})`);
}

function workerPids(primary: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(primary)], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}

describe.each(ENGINES)('%s: two tabs, --workers 2 behind the documented nginx, default settings', (_engine, launch) => {
  let cluster: CliServer;
  let site: ClickSite;
  let nginx: DocumentedNginx;
  let browser: TestBrowser;
  const pages: TestPage[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    // A fixed port, as deployments have: with port 0, replacement workers that find no
    // live worker left would listen on a new random port.
    const port = await freePort();
    [cluster, site, browser] = await Promise.all([startCli({ PORT: String(port) }, ['--workers', '2'], 20_000), startClickSite(), launch()]);
    nginx = await startDocumentedNginx({ upstreams: [port, port], app: Number(new URL(site.url).port) });
  }, 60_000);

  afterAll(async () => {
    for (const p of pages) await p.close().catch(() => undefined);
    await browser?.close();
    await nginx?.stop();
    await site?.close();
    if (cluster && cluster.child.exitCode === null) {
      cluster.child.kill('SIGTERM');
      await cluster.exited;
    }
  }, 30_000);

  it('every message once and in order in both tabs, across the death of every worker', async () => {
    // Tabs of the browser's one profile.
    for (let i = 0; i < 2; i++) {
      const p = await browser.newPage();
      pages.push(p);
      await openAndClick(p, `${nginx.url}/page?channel=${CHANNEL}`);
    }
    for (const p of pages) await waitInPage(p, "window.__events.some(function (e) { return e.type === 'open'; })", 'the tab to open', 10_000);

    for (let n = 0; n < 20; n++) await publishSurely(cluster.url, n);
    for (const p of pages) await waitInPage(p, 'window.__got.length >= 20', '20 messages', 10_000);

    const before = workerPids(cluster.child.pid as number);
    expect(before).toHaveLength(2);
    for (const pid of before) process.kill(pid, 'SIGKILL');
    for (let n = 20; n < 40; n++) {
      await publishSurely(cluster.url, n);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const p of pages) await waitInPage(p, 'window.__got.length >= 40', '40 messages after the workers died', 20_000);

    const after = workerPids(cluster.child.pid as number);
    expect(after).toHaveLength(2);
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
    for (const p of pages) {
      const { got } = await record(p);
      expect(got.map((g) => g.data.n)).toEqual(Array.from({ length: 40 }, (_, n) => n));
    }
  }, 90_000);
});
