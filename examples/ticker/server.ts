/**
 * A stock ticker rendered on the server and kept live by pushframe.
 *
 *   npm run example            (builds, then: node dist/examples/ticker/server.js)
 *   open http://localhost:3000/
 *
 * The application is an ordinary Koa app on its own server; pushframe is one middleware
 * in it. The page is a nunjucks template of the application; the embed macro adds the
 * bridge and the subscription. Prices are published on `stocks/<SYMBOL>`, a keep-latest
 * pattern: a page that falls behind gets the newest price per symbol.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Koa from 'koa';
import nunjucks from 'nunjucks';
import { applyStreamSettings, createPushframe, streamServerOptions, usePushframeViews, type Pushframe } from '../../src';

export interface Quote {
  symbol: string;
  name: string;
  price: number;
  open: number;
  change: number;
  changePct: number;
  at: number;
}

const LISTINGS: [string, string, number][] = [
  ['ASML', 'ASML Holding', 912.4],
  ['SHELL', 'Shell', 31.12],
  ['ADYEN', 'Adyen', 1450.0],
  ['ING', 'ING Groep', 16.84],
  ['PHIA', 'Philips', 24.31],
  ['HEIA', 'Heineken', 86.5],
  ['UNA', 'Unilever', 54.02],
  ['WKL', 'Wolters Kluwer', 152.9],
];

/** Source of the views, whether run from the sources (ts) or the build (dist/). */
function viewsDir(): string {
  const here = join(__dirname, 'views');
  return existsSync(here) ? here : join(__dirname, '..', '..', '..', 'examples', 'ticker', 'views');
}

/** A random walk per symbol: a few quotes move every tick. */
export class Market {
  readonly quotes = new Map<string, Quote>();

  constructor(private readonly random: () => number = Math.random) {
    for (const [symbol, name, price] of LISTINGS) {
      this.quotes.set(symbol, { symbol, name, price, open: price, change: 0, changePct: 0, at: Date.now() });
    }
  }

  /** Moves one to three symbols; returns the quotes that changed. */
  tick(): Quote[] {
    const symbols = [...this.quotes.keys()];
    const moved: Quote[] = [];
    const count = 1 + Math.floor(this.random() * 3);
    for (let i = 0; i < count; i++) {
      const q = this.quotes.get(symbols[Math.floor(this.random() * symbols.length)]) as Quote;
      const price = Math.max(0.01, q.price * (1 + (this.random() - 0.5) * 0.004));
      q.price = Math.round(price * 100) / 100;
      q.change = Math.round((q.price - q.open) * 100) / 100;
      q.changePct = Math.round(((q.price - q.open) / q.open) * 10000) / 100;
      q.at = Date.now();
      if (!moved.includes(q)) moved.push(q);
    }
    return moved;
  }
}

export interface TickerApp {
  push: Pushframe;
  market: Market;
  /** The application's own server. */
  server: http.Server;
  /** `http://host:port` as bound. */
  url: string;
  /** Graceful: streams are told to reconnect with jitter, then the server closes. */
  shutdown(): Promise<void>;
  /** Immediate (tests). */
  close(): Promise<void>;
}

export async function startTicker(options: { port?: number; host?: string; tickMs?: number; logLevel?: string } = {}): Promise<TickerApp> {
  const market = new Market();
  const views = usePushframeViews(new nunjucks.Environment(new nunjucks.FileSystemLoader(viewsDir()), { autoescape: true }));
  const push = await createPushframe({ logLevel: options.logLevel ?? 'info', statsIntervalMs: 0, latestChannels: ['stocks/*'] });

  const app = new Koa();
  // pushframe answers under /pushframe; everything else is the application's.
  app.use(push.middleware());
  app.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || ctx.path !== '/') return next();
    // The cursor before the prices: a change after this read arrives by the stream.
    const embed = await push.embed(['stocks/*']);
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = views.render('page.njk', { embed, quotes: [...market.quotes.values()] });
  });

  // The settings a server carrying streams needs (no request timeout, header limits).
  const server = applyStreamSettings(http.createServer(streamServerOptions(), app.callback()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, options.host ?? '0.0.0.0', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address === '0.0.0.0' || address === '::' ? 'localhost' : address}:${port}`;

  const timer = setInterval(() => {
    for (const q of market.tick()) {
      push.publish('stocks/' + q.symbol, q).catch((err: unknown) => push.log.warn({ err }, 'publish failed'));
    }
  }, options.tickMs ?? 400);
  timer.unref();

  const stop = async (graceful: boolean): Promise<void> => {
    clearInterval(timer);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (!graceful) server.closeAllConnections();
    await push.close();
    server.closeAllConnections();
    await closed;
  };
  return { push, market, server, url, shutdown: () => stop(true), close: () => stop(false) };
}

if (require.main === module) {
  startTicker({ port: Number(process.env.PORT ?? 3000) }).then(
    (ticker) => {
      ticker.push.log.info(`stock ticker on ${ticker.url}/`);
      const stop = (): void => {
        ticker.shutdown().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: unknown) => {
      process.stderr.write(`could not start: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
