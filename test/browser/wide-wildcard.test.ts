import type { PushframeServer } from '../../src';
import { ENGINES, waitInPage, type TestBrowser, type TestPage } from '../helpers/browsers';
import { startTestServer } from '../helpers/server';

/**
 * A dashboard page subscribed to one wildcard while 10 000 channels are published, in
 * Chromium, Firefox ESR and WebKitGTK at once, with the server's and the bridge's DEFAULT
 * settings: the 256 KiB streams recycle at least three times, and the page gets every
 * message exactly once, no reset, its stream still open, and every resume request
 * stays short.
 */

const CHANNELS = 10_000;
const BATCH = 200;
const PAD = 'x'.repeat(60);

const PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>wide wildcard</title></head>
<body><p>received: <b id="count">0</b></p>
<script src="/pushframe/pushframe.js"></script>
<script>
  window.__n = 0;
  window.__dups = 0;
  window.__seen = {};
  window.__resets = [];
  window.__errors = [];
  window.__opens = 0;
  window.__longest = 0;
  var conn = window.__conn = Pushframe.connect({ url: '/pushframe', channels: ['px/*'] });
  function measure() {
    var n = conn.cursor().length;
    if (n > window.__longest) window.__longest = n;
  }
  conn.on('px/*', function (data, meta) {
    var key = '$' + meta.channel + '@' + meta.id;
    if (Object.prototype.hasOwnProperty.call(window.__seen, key)) window.__dups++;
    window.__seen[key] = 1;
    window.__n++;
    if (window.__n % 500 === 0) { document.getElementById('count').innerHTML = String(window.__n); measure(); }
  });
  conn.listen('open', function () { window.__opens++; measure(); });
  conn.listen('reset', function (d) { window.__resets.push(d.channels); });
  conn.listen('error', function (d) { window.__errors.push(d.code); });
</script>
</body></html>`;

interface PageState {
  n: number;
  dups: number;
  resets: unknown[];
  errors: string[];
  opens: number;
  longest: number;
  state: string;
  cursor: number;
}

const STATE = `({ n: window.__n, dups: window.__dups, resets: window.__resets, errors: window.__errors,
  opens: window.__opens, longest: window.__longest, state: window.__conn.state, cursor: window.__conn.cursor().length })`;

describe('a px/* dashboard page over 10 000 channels in real browsers (defaults)', () => {
  let server: PushframeServer;
  const browsers: TestBrowser[] = [];

  beforeAll(async () => {
    server = await startTestServer({
      setup: (app) => {
        app.use(async (ctx, next) => {
          if (ctx.path !== '/wide') return next();
          ctx.type = 'text/html; charset=utf-8';
          ctx.body = PAGE;
        });
      },
    });
  });

  afterAll(async () => {
    for (const b of browsers) await b.close().catch(() => undefined);
    await server?.close();
  });

  it('Chromium, Firefox ESR and WebKitGTK get every message once across at least three recycles, no reset, stream open', async () => {
    // The resume requests as they reach the server: their size is what a proxy sees.
    const requests: number[] = [];
    server.http.on('request', (req) => {
      if ((req.url ?? '').startsWith('/pushframe/stream')) requests.push((req.url ?? '').length);
    });
    const launched = await Promise.all(ENGINES.map(([, launch]) => launch()));
    browsers.push(...launched);
    const pages: TestPage[] = [];
    for (const b of launched) {
      const page = await b.newPage();
      await page.goto(server.url + '/wide');
      pages.push(page);
    }
    await Promise.all(pages.map((p) => waitInPage(p, 'window.__opens >= 1', 'the first open', 15_000)));

    const published = new Set<string>();
    for (let i = 0; i < CHANNELS; i += BATCH) {
      const batch = [];
      for (let j = i; j < Math.min(CHANNELS, i + BATCH); j++) {
        batch.push(server.hub.publish(`px/s${j}`, { n: j, pad: PAD }).then((id) => published.add(`px/s${j}@${id}`)));
      }
      await Promise.all(batch);
      // Bounded batches, paced so the pages take them as a live dashboard would.
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(published.size).toBe(CHANNELS);

    await Promise.all(pages.map((p) => waitInPage(p, `window.__n >= ${CHANNELS}`, `${CHANNELS} messages`, 60_000)));
    // Anything extra (a repeat) would arrive right behind.
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < pages.length; i++) {
      const s = await pages[i].evaluate<PageState>(STATE);
      process.stdout.write(
        `[wide ${launched[i].name}] ${s.n} messages, ${s.opens - 1} recycles, longest cursor seen in the page ${s.longest} chars, now ${s.cursor}, state ${s.state}\n`,
      );
      expect({ n: s.n, dups: s.dups, resets: s.resets, errors: s.errors, state: s.state }).toEqual({
        n: CHANNELS,
        dups: 0,
        resets: [],
        errors: [],
        state: 'open',
      });
      expect(s.opens - 1).toBeGreaterThanOrEqual(3);
      expect(s.cursor).toBeLessThan(1024);
      // Every message the page counted is one that was published.
      const missing = await pages[i].evaluate<number>(
        `(function (keys) { var m = 0; for (var i = 0; i < keys.length; i++) if (!window.__seen['$' + keys[i]]) m++; return m; })(${JSON.stringify([...published])})`,
      );
      expect(missing).toBe(0);
    }
    process.stdout.write(`[wide] ${requests.length} stream requests, longest ${Math.max(...requests)} bytes\n`);
    expect(requests.length).toBeGreaterThanOrEqual(4 * launched.length); // each: its first open and three recycles
    expect(Math.max(...requests)).toBeLessThan(1024);
  }, 120_000);
});
