import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import Koa from 'koa';
import nunjucks from 'nunjucks';
import { MemoryBroker, applyStreamSettings, createPushframe, streamServerOptions, usePushframeViews, type Pushframe } from '../../src';
import { openStream } from '../helpers/forever-frame';
import { ENGINES, waitInPage, type TestBrowser } from '../helpers/browsers';

const MESSAGES = 100;
const views = usePushframeViews(new nunjucks.Environment(new nunjucks.FileSystemLoader(join(__dirname, '..', 'fixtures', 'embed')), { autoescape: true }));

interface App {
  push: Pushframe;
  url: string;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<string> {
  applyStreamSettings(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function page(push: Pushframe, title: string): Promise<string> {
  return views.render('page.njk', { title, embed: await push.embed(['news']) });
}

/** An application's own Koa app, its routes, error handling and 404, with pushframe mounted. */
async function koaApp(): Promise<App> {
  const push = await createPushframe({ logLevel: 'silent', statsIntervalMs: 0 });
  const app = new Koa();
  app.use(async (ctx, next) => {
    await next();
    ctx.set('X-App', 'koa'); // the app's own outer middleware sees pushframe's answers too
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.status = 404;
      ctx.body = 'koa app: no such page';
    }
  });
  app.use(push.middleware());
  app.use(async (ctx, next) => {
    if (ctx.path === '/') {
      ctx.type = 'html';
      ctx.body = await page(push, 'koa');
    } else if (ctx.path === '/hello') ctx.body = 'hello from koa';
    else await next();
  });
  const server = http.createServer(streamServerOptions(), app.callback());
  const url = await listen(server);
  return { push, url, close: () => closeApp(push, server) };
}

/** A bare node:http server: pushframe first, the application's own routes in next(). */
async function nodeApp(): Promise<App> {
  const push = await createPushframe({ logLevel: 'silent', statsIntervalMs: 0 });
  const handle = push.handler();
  const server = http.createServer(streamServerOptions(), (req, res) => {
    handle(req, res, () => {
      if (req.url === '/') {
        page(push, 'node').then((html) => {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(html);
        });
      } else if (req.url === '/hello') {
        res.end('hello from node');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('node app: no such page');
      }
    });
  });
  const url = await listen(server);
  return { push, url, close: () => closeApp(push, server) };
}

/** An Express app: pushframe before the body parser, the application's routes and 404 after. */
async function expressApp(): Promise<App> {
  const push = await createPushframe({ logLevel: 'silent', statsIntervalMs: 0 });
  const app = express();
  app.use(push.handler());
  app.use(express.json());
  app.get('/', async (_req, res) => {
    res.type('html').send(await page(push, 'express'));
  });
  app.get('/hello', (_req, res) => {
    res.send('hello from express');
  });
  app.post('/echo', (req, res) => {
    res.json(req.body);
  });
  app.use((_req, res) => {
    res.status(404).send('express app: no such page');
  });
  const server = http.createServer(streamServerOptions(), app);
  const url = await listen(server);
  return { push, url, close: () => closeApp(push, server) };
}

async function closeApp(push: Pushframe, server: http.Server): Promise<void> {
  await push.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

// One browser of each engine for the three applications; each test opens its own page.
const browsers = new Map<string, TestBrowser>();
beforeAll(async () => {
  for (const [engine, launch] of ENGINES) browsers.set(engine, await launch());
}, 60_000);
afterAll(async () => {
  for (const b of browsers.values()) await b.close();
});

describe.each([
  ['a Koa app mounting middleware()', koaApp, 'koa'],
  ['a node:http server using handler()', nodeApp, 'node'],
  ['an Express app using handler()', expressApp, 'express'],
] as const)('%s', (_name, start, kind) => {
  let app: App;

  beforeAll(async () => {
    app = await start();
  });
  afterAll(() => app?.close());

  it.each(ENGINES.map(([engine]) => engine))(`delivers ${MESSAGES} of ${MESSAGES} messages published through publish() to a page in %s`, async (engine) => {
    const tab = await browsers.get(engine)!.newPage();
    try {
      await tab.goto(app.url + '/');
      await waitInPage(tab, 'window.__open >= 1', 'the stream to open', 10_000);
      const ids: string[] = [];
      for (let i = 0; i < MESSAGES; i++) ids.push(await app.push.publish('news', { n: i, text: 'item ' + i }));
      await waitInPage(tab, `window.__got.length >= ${MESSAGES}`, `${MESSAGES} messages`, 10_000);
      const got = await tab.evaluate<{ channel: string; id: string; data: { n: number } }[]>('window.__got');
      expect(got).toHaveLength(MESSAGES);
      expect(got.map((m) => m.data.n)).toEqual(Array.from({ length: MESSAGES }, (_, i) => i));
      expect(got.map((m) => m.id)).toEqual(ids);
      expect(new Set(got.map((m) => m.channel))).toEqual(new Set(['news']));
      // The page loaded the bridge from its versioned URL, through the application's server.
      const src = await tab.evaluate<string>("document.querySelector('script[src]').getAttribute('src')");
      expect(src).toMatch(/^\/pushframe\/pushframe\.[A-Za-z0-9_-]{12}\.js$/);
    } finally {
      await tab.close();
    }
  }, 40_000);

  it("leaves the application's own routes and 404 answers untouched", async () => {
    const hello = await fetch(app.url + '/hello');
    expect(await hello.text()).toBe('hello from ' + kind);
    const missing = await fetch(app.url + '/nothing-here');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe(kind + ' app: no such page');
    // Near the prefix but not under it: still the application's.
    const near = await fetch(app.url + '/pushframeX/stats');
    expect(await near.text()).toBe(kind + ' app: no such page');
    // Under the prefix: pushframe's own answers, JSON errors included.
    const stats = await fetch(app.url + '/pushframe/stats');
    expect(stats.status).toBe(200);
    expect((await stats.json()).connections).toBeDefined();
    const unknown = await fetch(app.url + '/pushframe/nope');
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('not_found');
    const wrongMethod = await fetch(app.url + '/pushframe/stats', { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    if (kind === 'koa') expect(stats.headers.get('x-app')).toBe('koa');
    // /healthz and /metrics belong to pushframe's own server, not to an embedded one.
    expect((await fetch(app.url + '/healthz')).status).toBe(404);
  });

  it('publishes over HTTP through the application server', async () => {
    const res = await fetch(app.url + '/pushframe/publish/news', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"over":"http"}',
    });
    expect(res.status).toBe(202);
    expect(typeof (await res.json()).id).toBe('string');
    if (kind === 'express') {
      // The application's body parser, mounted after pushframe, still gets its bodies.
      const echo = await fetch(app.url + '/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      expect(await echo.json()).toEqual({ a: 1 });
    }
  });
});

describe('createPushframe', () => {
  it('answers 404 as JSON for paths that are not pushframe', async () => {
    const push = await createPushframe({ logLevel: 'silent', statsIntervalMs: 0 });
    const server = http.createServer(push.handler());
    const url = await listen(server);
    try {
      const res = await fetch(url + '/elsewhere');
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe('not_found');
      expect((await fetch(url + '/pushframe/stats')).status).toBe(200);
    } finally {
      await closeApp(push, server);
    }
  });

  it('close() tells every stream to reconnect after a jittered delay, then closes the broker', async () => {
    let openWhenBrokerClosed = -1;
    let push: Pushframe | null = null;
    class WatchedBroker extends MemoryBroker {
      override async close(): Promise<void> {
        openWhenBrokerClosed = push!.stats().connections.total;
        await super.close();
      }
    }
    push = await createPushframe({ logLevel: 'silent', statsIntervalMs: 0, reconnectJitterMs: 3000, brokerInstance: new WatchedBroker({ maxCount: 100, maxAgeMs: 60_000 }) });
    const server = http.createServer(push.handler());
    const url = await listen(server);
    try {
      const streams = await Promise.all([1, 2, 3, 4, 5].map(() => openStream(url + '/pushframe', { channels: 'news' })));
      await Promise.all(streams.map((s) => s.until(() => s.frames.some((f) => f.kind === 'o'), 5000, 'open')));
      await push.close();
      await Promise.all(streams.map((s) => s.until(() => s.frames.some((f) => f.kind === 'r'), 5000, 'reconnect')));
      const delays = streams.map((s) => s.frames.find((f) => f.kind === 'r')!.args[0] as number);
      for (const d of delays) expect(d).toBeGreaterThanOrEqual(0), expect(d).toBeLessThan(3000);
      expect(new Set(delays).size).toBeGreaterThan(1); // spread, not one instant for all
      expect(openWhenBrokerClosed).toBe(0); // every stream had its instruction before the broker went
      const late = await fetch(url + '/pushframe/stream?channels=news');
      expect(late.status).toBe(503);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses the options that belong to a listening server', async () => {
    await expect(createPushframe({ port: 80 } as never)).rejects.toThrow(/option "port" belongs to a listening server/);
    await expect(createPushframe({ demo: true } as never)).rejects.toThrow(/option "demo"/);
  });
});
