/**
 * A stock ticker rendered on the server and kept live by pushframe.
 *
 *   npm run example            (builds, then: node dist/examples/ticker/server.js)
 *   open http://localhost:3000/
 *
 * The page is an ordinary nunjucks template of this application; the embed macro adds
 * the bridge and the subscription. Prices are published on `stocks/<SYMBOL>`, a
 * keep-latest pattern: a page that falls behind gets the newest price per symbol.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import nunjucks from 'nunjucks';
import { embedContext, startServer, usePushframeViews, type PushframeServer } from '../../src';

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
  server: PushframeServer;
  market: Market;
  close(): Promise<void>;
}

export async function startTicker(options: { port?: number; host?: string; tickMs?: number; logLevel?: string } = {}): Promise<TickerApp> {
  const market = new Market();
  const views = usePushframeViews(new nunjucks.Environment(new nunjucks.FileSystemLoader(viewsDir()), { autoescape: true }));

  const server = await startServer({
    port: options.port ?? 3000,
    host: options.host ?? '0.0.0.0',
    logLevel: options.logLevel ?? 'info',
    demo: false,
    statsIntervalMs: 0,
    latestChannels: ['stocks/*'],
    // The application's own routes, on the same Koa app and port as pushframe.
    setup(app, { hub, config }) {
      app.use(async (ctx, next) => {
        if (ctx.method !== 'GET' || ctx.path !== '/') return next();
        // The cursor before the prices: a change after this read arrives by the stream.
        const embed = await embedContext(hub, ['stocks/*'], config.prefix);
        ctx.type = 'text/html; charset=utf-8';
        ctx.set('Cache-Control', 'no-store');
        ctx.body = views.render('page.njk', { embed, quotes: [...market.quotes.values()] });
      });
    },
  });

  const timer = setInterval(() => {
    for (const q of market.tick()) {
      server.hub.publish('stocks/' + q.symbol, q).catch((err: unknown) => server.log.warn({ err }, 'publish failed'));
    }
  }, options.tickMs ?? 400);
  timer.unref();

  return {
    server,
    market,
    async close() {
      clearInterval(timer);
      await server.close();
    },
  };
}

if (require.main === module) {
  startTicker({ port: Number(process.env.PORT ?? 3000) }).then(
    (ticker) => {
      ticker.server.log.info(`stock ticker on ${ticker.server.url.replace('0.0.0.0', 'localhost')}/`);
      const stop = (): void => {
        ticker.server.shutdown().then(() => process.exit(0));
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
