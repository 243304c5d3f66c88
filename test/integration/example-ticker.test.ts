import * as acorn from 'acorn';
import { JSDOM } from 'jsdom';
import { startTicker, type TickerApp } from '../../examples/ticker/server';
import { openStream } from '../helpers/forever-frame';

/** The example application: its own Koa app and server, with pushframe's middleware mounted. */
describe('examples/ticker', () => {
  let ticker: TickerApp;

  beforeAll(async () => {
    ticker = await startTicker({ port: 0, host: '127.0.0.1', tickMs: 20, logLevel: 'silent' });
  });
  afterAll(() => ticker.close());

  it('renders the current prices with the embed macro and a render-time cursor', async () => {
    const res = await fetch(ticker.url + '/');
    expect(res.status).toBe(200);
    const dom = new JSDOM(await res.text());
    const doc = dom.window.document;
    expect(doc.querySelectorAll('#quotes tbody tr')).toHaveLength(8);
    expect(doc.querySelector('#q-ASML .last')?.textContent).toMatch(/^\d+\.\d\d$/);
    expect(doc.querySelector('script[src]')?.getAttribute('src')).toMatch(/^\/pushframe\/pushframe\.[A-Za-z0-9_-]{12}\.js$/);
    const inline = [...doc.querySelectorAll('script:not([src])')].map((s) => s.textContent ?? '');
    const calls: Record<string, unknown>[] = [];
    new Function('Pushframe', inline[0])({ connect: (o: Record<string, unknown>) => calls.push(o) });
    expect(calls[0]).toMatchObject({ channels: ['stocks/*'], target: 'quotes', since: expect.stringMatching(/^[A-Za-z0-9]+~\d+$/) });
    for (const code of inline) expect(() => acorn.parse(code, { ecmaVersion: 3, allowReserved: 'never' })).not.toThrow();
  });

  it('streams price changes on stocks/*, next to the rest of pushframe', async () => {
    const r = await openStream(ticker.url + '/pushframe', { channels: 'stocks/*' });
    try {
      await r.until(() => r.messages().length >= 3, 5000, 'three quotes');
      const q = r.messages()[0].data as { symbol: string; price: number };
      expect(r.messages()[0].channel).toBe('stocks/' + q.symbol);
      expect(typeof q.price).toBe('number');
    } finally {
      r.close();
    }
    expect(ticker.push.hub.isLatestChannel('stocks/ASML')).toBe(true);
    expect((await fetch(ticker.url + '/pushframe/stats')).status).toBe(200);
    expect((await fetch(ticker.url + '/nothing-here')).status).toBe(404);
  });
});
