import { startExpressExample, type ExpressExample } from '../../examples/express/server';
import { startTicker, type TickerApp } from '../../examples/ticker/server';
import { ENGINES, waitInPage, type TestBrowser } from '../helpers/browsers';

/**
 * The examples as a visitor sees them: each application on its own server with its
 * default timers, its page loaded in each engine, the page's own script updating the
 * DOM from the messages it gets. One browser for both examples.
 */
let ticker: TickerApp;
let clock: ExpressExample;

beforeAll(async () => {
  [ticker, clock] = await Promise.all([
    startTicker({ port: 0, host: '127.0.0.1', logLevel: 'silent' }),
    startExpressExample({ port: 0, host: '127.0.0.1', logLevel: 'silent' }),
  ]);
}, 30_000);
afterAll(async () => {
  await Promise.all([ticker?.close(), clock?.close()]);
});

describe.each(ENGINES)('examples in %s', (_engine, launch) => {
  let browser: TestBrowser;
  beforeAll(async () => {
    browser = await launch();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('examples/ticker (a Koa app mounting the middleware): the page shows every price it receives', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(ticker.url + '/');
      // Recorded beside the page's own handler, on the same target.
      await page.evaluate("(window.__got = [], Pushframe.listen('quotes', 'pushframe:message', function (e) { window.__got.push(e.detail); }), 1)");
      await waitInPage(page, 'window.__got.length >= 5', 'five quotes (the market moves every 400 ms)', 15_000);
      // Read in one turn of the page's event loop: for each symbol, the newest price received and the cell.
      const shown = await page.evaluate<{ symbol: string; price: string; cell: string }[]>(`(function () {
        var last = {}, out = [];
        for (var i = 0; i < window.__got.length; i++) last[window.__got[i].data.symbol] = window.__got[i].data.price;
        for (var s in last) out.push({ symbol: s, price: last[s].toFixed(2), cell: document.querySelector('#q-' + s + ' .last').textContent });
        return out;
      })()`);
      expect(shown.length).toBeGreaterThan(0);
      for (const s of shown) expect(s.cell).toBe(s.price);
      const got = await page.evaluate<{ channel: string; data: { symbol: string } }[]>('window.__got');
      for (const m of got) expect(m.channel).toBe('stocks/' + m.data.symbol);
      expect(await page.evaluate("document.getElementById('transport').textContent")).toBe('iframe');
    } finally {
      await page.close();
    }
  }, 30_000);

  it('examples/express (handler() in an Express app): the page shows the server time it receives', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(clock.url + '/');
      await page.evaluate("(window.__got = [], pf.on('clock', function (data) { window.__got.push(data.time); }), 1)");
      await waitInPage(page, 'window.__got.length >= 2', 'two ticks of the clock (one a second)', 10_000);
      const [got, now] = await page.evaluate<[string[], string]>("[window.__got, document.getElementById('now').innerHTML]");
      expect(now).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(got).toContain(now);
    } finally {
      await page.close();
    }
  }, 30_000);
});
