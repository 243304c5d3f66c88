import http from 'node:http';
import { grant, type PushframeServer } from '../../src';
import { ensureBuilt, startCli, type CliServer } from '../helpers/child';
import { errorCode, get } from '../helpers/http';
import { publish, rawRequest, startTestServer } from '../helpers/server';

/**
 * Doors that cheap requests must not open (docs/security.md): the demo in production,
 * JSONP callbacks and origins, a long-poll outliving its grant, odd methods and HEAD,
 * the embed URL filter and the size limit on escaped text. Real servers on loopback,
 * with the default settings wherever a default is the point.
 */

const q = encodeURIComponent;

async function stop(s: CliServer): Promise<void> {
  s.child.kill('SIGKILL');
  await s.exited;
}

/** A request with a deadline: resolves with null when nothing came back in time. */
function request(url: string, method: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string } | null> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(null);
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** Runs a JSONP body with `Pushframe._poll.<name>` defined; returns what it was called with. */
function runJsonp(body: string): any {
  let got: unknown;
  const member = /^\/\*\*\/Pushframe\._poll\.([a-z0-9_]+)\(/.exec(body)?.[1];
  if (!member) throw new Error('not a JSONP call of the bridge: ' + body.slice(0, 80));
  new Function('Pushframe', body)({ _poll: { [member]: (a: unknown) => (got = a) } });
  return got;
}

beforeAll(() => ensureBuilt(), 120_000);

describe('finding 5: the demo in production', () => {
  const PROD = { NODE_ENV: 'production', PUSHFRAME_PUBLISH_KEY: 'k-prod', PUSHFRAME_DEMO: undefined };

  it('is off unless enabled by name: / and /demo/publish do not exist, no figures shown', async () => {
    const s = await startCli(PROD);
    try {
      const page = await fetch(s.url + '/');
      expect(page.status).toBe(404);
      expect(await page.text()).not.toMatch(/rss|uptime|heap/i);
      const post = await fetch(s.url + '/demo/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"hi"}' });
      expect(post.status).toBe(404);
    } finally {
      await stop(s);
    }
  });

  it('enabled with PUSHFRAME_DEMO=true, obeys the publish key and the publish rate', async () => {
    const s = await startCli({ ...PROD, PUSHFRAME_DEMO: 'true', PUSHFRAME_PUBLISH_RATE: '1' });
    try {
      const html = await (await fetch(s.url + '/')).text();
      expect(html).toContain('id="publish-locked"');
      expect(html).not.toContain('<form id="publish"');
      expect(html).not.toContain('k-prod');
      const post = (headers: Record<string, string>): Promise<Response> =>
        fetch(s.url + '/demo/publish', {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
          body: '{"text":"hi"}',
        });
      const anonymous = await post({});
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await post({ authorization: 'Bearer k-prod' })).status).toBe(202);
      const second = await post({ authorization: 'Bearer k-prod' });
      expect(second.status).toBe(429);
      expect(((await second.json()) as any).error.code).toBe('rate_limited');
    } finally {
      await stop(s);
    }
  });
});

describe('finding 6: JSONP callbacks and origins', () => {
  const PAGE = 'https://www.example.com';
  let server: PushframeServer;
  let closed: PushframeServer;
  beforeAll(async () => {
    [server, closed] = await Promise.all([startTestServer({ allowedOrigins: [PAGE] }), startTestServer()]);
  });
  afterAll(async () => {
    await server.close();
    await closed.close();
  });

  const poll = (s: PushframeServer, query: string, headers: Record<string, string> = {}) =>
    get(`${s.url}/pushframe/poll?channels=news&${query}`, headers);

  it.each([['alert'], ['location.assign'], ['top.location.replace'], ['Pushframe._poll.constructor'], ['steal']])(
    'refuses the callback %s (no function of the page can be called)',
    async (name) => {
      const r = await poll(server, 'callback=' + q(name));
      expect(r.status).toBe(400);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(errorCode(r.body)).toBe('bad_callback');
    },
  );

  it("serves the bridge's callbacks to its own pages and to allowed origins that name themselves", async () => {
    const cb = 'callback=Pushframe._poll.f1_ab_1';
    const own = await poll(server, cb, { 'sec-fetch-site': 'same-origin', referer: server.url + '/page' });
    expect(runJsonp(own.body)).toEqual(expect.objectContaining({ cursor: expect.any(String) }));
    const cross = await poll(server, `${cb}&origin=${q(PAGE)}`, { 'sec-fetch-site': 'cross-site', referer: PAGE + '/' });
    expect(runJsonp(cross.body)).toEqual(expect.objectContaining({ cursor: expect.any(String) }));
    // Old browsers send no Sec-Fetch-Site: the Referer places them.
    const old = await poll(server, `${cb}&origin=${q(PAGE)}`, { referer: PAGE + '/news' });
    expect(runJsonp(old.body)).toEqual(expect.objectContaining({ cursor: expect.any(String) }));
  });

  it.each([
    ['a cross-site page', '', { 'sec-fetch-site': 'cross-site', referer: 'https://evil.example/' }],
    ['a cross-site page claiming an allowed origin', `&origin=${q(PAGE)}`, { 'sec-fetch-site': 'cross-site', referer: 'https://evil.example/' }],
    ['a cross-site page hiding its referrer', `&origin=${q(PAGE)}`, { 'sec-fetch-site': 'cross-site' }],
    ['an allowed page that does not name itself', '', { 'sec-fetch-site': 'cross-site', referer: PAGE + '/' }],
    ['an old browser on another origin', '', { referer: 'https://evil.example/x' }],
    ['a same-site page not on the list', `&origin=${q('https://blog.example.com')}`, { 'sec-fetch-site': 'same-site', referer: 'https://blog.example.com/' }],
    ['an origin= not on the list', `&origin=${q('https://evil.example')}`, {}],
    ['an origin= that is no web origin', `&origin=${q('javascript://127.0.0.1')}`, {}],
  ])('refuses %s with a bad_origin call and no data', async (_what, extra, headers) => {
    const r = await poll(server, 'since=&callback=Pushframe._poll.f1_ab_1' + extra, headers);
    expect(r.status).toBe(200);
    const answer = runJsonp(r.body);
    expect(answer.error.code).toBe('bad_origin');
    expect(answer.cursor).toBeUndefined();
  });

  it('refuses every cross-site JSONP poll when no allowlist admits it', async () => {
    const r = await poll(closed, `callback=Pushframe._poll.f1_ab_1&origin=${q(PAGE)}`, { 'sec-fetch-site': 'cross-site', referer: PAGE + '/' });
    expect(runJsonp(r.body).error.code).toBe('bad_origin');
    const stats = await poll(closed, 'callback=Pushframe._poll.pos1', { 'sec-fetch-site': 'cross-site', referer: 'https://evil.example/' });
    expect(runJsonp(stats.body).error.code).toBe('bad_origin');
  });
});

describe('finding 7: a held long-poll and its grant', () => {
  const SECRET = 'doors-secret';
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ secret: SECRET });
  });
  afterAll(() => server.close());

  it('ends with bad_grant when the grant expires (default pollTimeoutMs), and delivers nothing published after', async () => {
    expect(server.config.pollTimeoutMs).toBe(25_000);
    const token = grant(SECRET, ['private/room'], 2);
    const expiresAt = (Math.floor(Date.now() / 1000) + 2) * 1000;
    const first = await get(`${server.url}/pushframe/poll?channels=private/room&token=${q(token)}`);
    const cursor = JSON.parse(first.body).cursor as string;
    const held = get(`${server.url}/pushframe/poll?channels=private/room&since=${q(cursor)}&token=${q(token)}`);
    let answeredAt = 0;
    void held.then(() => (answeredAt = Date.now()));
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 300));
    await server.hub.publish('private/room', { secret: 'after the grant' });
    const r = await Promise.race([held, new Promise<null>((res) => setTimeout(() => res(null), 3000))]);
    expect(r).not.toBeNull();
    expect(r!.status).toBe(403);
    expect(errorCode(r!.body)).toBe('bad_grant');
    expect(r!.body).not.toContain('after the grant');
    expect(answeredAt - expiresAt).toBeLessThan(1500);
  }, 15_000);
});

describe('finding 8: odd methods and HEAD', () => {
  let s: CliServer;
  beforeAll(async () => {
    s = await startCli({ PUSHFRAME_LOG_LEVEL: 'debug', PUSHFRAME_MAX_CONNECTIONS: '1' });
  });
  afterAll(() => stop(s));

  it.each([
    ['TRACE', '/pushframe/stream?channels=a', 501, 'not_implemented', 'HEAD, GET'],
    ['PROPFIND', '/pushframe/events', 501, 'not_implemented', 'HEAD, GET, OPTIONS'],
    ['PROPFIND', '/nowhere', 501, 'not_implemented', undefined],
    ['PUT', '/pushframe/stream', 405, 'method_not_allowed', 'HEAD, GET'],
    ['DELETE', '/pushframe/publish/a', 405, 'method_not_allowed', 'POST'],
  ])('%s %s → %d %s with Allow', async (method, path, status, code, allow) => {
    const r = await rawRequest(s.url, method, path);
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(errorCode(r.text)).toBe(code);
    if (allow) expect(r.headers.allow).toBe(allow);
    else expect(r.headers.allow).toMatch(/GET/);
  });

  it('logs them at debug, never as errors with a stack', async () => {
    await rawRequest(s.url, 'TRACE', '/');
    await new Promise((r) => setTimeout(r, 100));
    const lines = s.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    expect(s.stdout()).not.toContain('"stack"');
    expect(lines.some((l) => l.msg === 'request refused')).toBe(true);
  });

  it('answers HEAD on stream, events and poll at once, headers only, without taking a slot', async () => {
    const types: Record<string, RegExp> = { stream: /^text\/html/, events: /^text\/event-stream/, poll: /^application\/json/ };
    for (const [path, type] of Object.entries(types)) {
      // Twice each, with room for one connection: a HEAD that took a slot would refuse the next.
      for (let i = 0; i < 2; i++) {
        const r = await request(`${s.url}/pushframe/${path}?channels=a&since=`, 'HEAD');
        expect([path, r?.status]).toEqual([path, 200]);
        expect(r!.headers['content-type']).toMatch(type);
        expect(r!.body).toBe('');
      }
    }
    const stats = (await (await fetch(s.url + '/pushframe/stats')).json()) as { connections: { total: number; slots: number } };
    expect(stats.connections).toMatchObject({ total: 0, slots: 0 });
    const stream = await get(`${s.url}/pushframe/stream?channels=a`, {}, 64);
    expect(stream.status).toBe(200);
  });
});

describe('finding 9: the embed URL filter and the size limit', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({
      // A page of the application rendering the embed macro with a URL from its own configuration.
      setup: (app, { views }) => {
        app.use(async (ctx, next) => {
          if (ctx.path !== '/embed') return next();
          try {
            ctx.body = views.renderString('{% from "pushframe.njk" import pushframe %}{{ pushframe(channels=["a"], url=url) }}', { url: ctx.query.url });
            ctx.type = 'html';
          } catch (err) {
            ctx.status = 400;
            ctx.body = (err as Error).message;
          }
        });
      },
    });
  });
  afterAll(() => server.close());

  it.each([['/\\evil.com'], ['//evil.com'], ['/\t/evil.com'], ['/\n/evil.com'], ['\\\\evil.com'], ['https:\\\\evil.com'], ['/\\/evil.com'], ['javascript:alert(1)'], ['https:/\\evil.com']])(
    'the pushframe_url filter refuses %j',
    async (url) => {
      const r = await fetch(`${server.url}/embed?url=${q(url)}`);
      const text = await r.text();
      expect(r.status).toBe(400);
      expect(text).toMatch(/url must be a path/);
      expect(text).not.toContain('evil.com');
    },
  );

  it('the pushframe_url filter keeps paths and http(s) URLs', async () => {
    for (const url of ['/pushframe', '/push/', 'https://push.example.com/pushframe', 'http://127.0.0.1:8080/p']) {
      const r = await fetch(`${server.url}/embed?url=${q(url)}`);
      expect([url, r.status]).toEqual([url, 200]);
      // The macro's src is the bridge's versioned file under that URL.
      expect(await r.text()).toMatch(new RegExp(`src="${url.replace(/\/$/, '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/pushframe\\.[A-Za-z0-9_-]{12}\\.js"`));
    }
  });

  it('limits the JSON as published (default 64 KiB), not its escaped form, which stays script-safe', async () => {
    expect(server.config.maxMessageBytes).toBe(65_536);
    const first = JSON.parse((await get(`${server.url}/pushframe/poll?channels=big`)).body).cursor as string;
    const text = '<'.repeat(60_000);
    const ok = await publish(server, 'big', JSON.stringify(text));
    expect(ok.status).toBe(202);
    const over = await publish(server, 'big', JSON.stringify('x'.repeat(65_535)));
    expect(over.status).toBe(413);
    expect(over.json.error.code).toBe('message_too_large');
    const r = await get(`${server.url}/pushframe/poll?channels=big&since=${q(first)}&callback=Pushframe._poll.f1_a_1`);
    expect(r.body).not.toMatch(/[<>&]/);
    expect(r.body).toContain('\\u003c'.repeat(100));
    expect(runJsonp(r.body).messages[0][2]).toBe(text);
  });
});
