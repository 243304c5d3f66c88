import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import type Koa from 'koa';
import type { PushframeServer } from '../../src';
import { startTestServer } from '../helpers/server';
import { SseClient } from '../helpers/sse-client';

const ORIGIN = 'http://page.example.test';

describe('GET /pushframe/events (server-sent events)', () => {
  let server: PushframeServer;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    server = await startTestServer({ heartbeatMs: 150, allowedOrigins: [ORIGIN] });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => server.close());

  async function open(query: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = await SseClient.open(`${server.url}/pushframe/events?${query}`, headers);
    clients.push(c);
    return c;
  }

  it('sends event-stream headers, a retry delay, padding and a ready event whose id is the cursor', async () => {
    const c = await open('channels=hello');
    expect(c.status).toBe(200);
    expect(c.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(c.res.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(c.res.headers['x-accel-buffering']).toBe('no');
    expect(c.res.headers['transfer-encoding']).toBe('chunked');
    expect(c.res.headers['content-encoding']).toBeUndefined();
    await c.waitForEvent('ready');
    expect(c.body.startsWith('retry: 2000\n:')).toBe(true);
    expect(c.body.indexOf('event: ready')).toBeGreaterThanOrEqual(2048);
    const ready = c.events.find((e) => e.event === 'ready')!;
    const info = JSON.parse(ready.data) as { cursor: string; heartbeatMs: number };
    expect(info.heartbeatMs).toBe(150);
    expect(ready.id).toBe(info.cursor);
    expect(c.lastEventId).toBe(info.cursor);
  });

  it('delivers each message as its own event whose id is the cursor after it', async () => {
    const c = await open('channels=live/*');
    await c.waitForEvent('ready');
    const id1 = await server.hub.publish('live/a', { x: '</script>\u2028' });
    const id2 = await server.hub.publish('live/b', 2);
    await c.waitForMessages(2);
    expect(c.messages).toEqual([
      { channel: 'live/a', id: id1, data: { x: '</script>\u2028' } },
      { channel: 'live/b', id: id2, data: 2 },
    ]);
    const events = c.events.filter((e) => e.event === 'message');
    expect(events[0].id).toMatch(new RegExp(`,live/a@${id1}$|~${id1}$`));
    expect(events[1].id).toMatch(new RegExp(`live/b@${id2}|~${id2}`));
    expect(c.body).not.toMatch(/[<\u2028]/);
  });

  it('resumes from Last-Event-ID with exactly the missed messages, and prefers it over since', async () => {
    const a = await open('channels=resume');
    await a.waitForEvent('ready');
    const startCursor = a.lastEventId;
    const early = await server.hub.publish('resume', 'seen');
    await a.waitForMessages(1);
    const resumeFrom = a.lastEventId;
    a.close();
    const missed = [await server.hub.publish('resume', 'm1'), await server.hub.publish('resume', 'm2')];
    // `since` still names the page's first cursor, as EventSource keeps its URL.
    const b = await open(`channels=resume&since=${encodeURIComponent(startCursor)}`, { 'Last-Event-ID': resumeFrom });
    await b.waitForMessages(2);
    const live = await server.hub.publish('resume', 'm3');
    await b.waitForMessages(3);
    expect(b.messages.map((m) => m.id)).toEqual([...missed, live]);
    expect(b.messages.map((m) => m.data)).toEqual(['m1', 'm2', 'm3']);
    expect(b.messages.some((m) => m.id === early)).toBe(false);

    // Without Last-Event-ID, since is the resume point.
    const c = await open(`channels=resume&since=${encodeURIComponent(startCursor)}`);
    await c.waitForMessages(4);
    expect(c.messages.map((m) => m.data)).toEqual(['seen', 'm1', 'm2', 'm3']);
  });

  it('sends a reset event when the gap cannot be covered, then a checkpoint that covers it', async () => {
    const c = await open('channels=r/a', { 'Last-Event-ID': 'otherepoch~0' });
    await c.waitForEvent('checkpoint');
    expect(c.events.map((e) => e.event)).toEqual(['ready', 'reset', 'checkpoint']);
    expect(c.events[0].id).toBe('otherepoch~0'); // until the checkpoint, a cut repeats the reset
    expect(JSON.parse(c.events[1].data)).toEqual(['r/a']);
    const checkpoint = c.events[2];
    expect(JSON.parse(checkpoint.data)).toEqual({ cursor: checkpoint.id });
    expect(c.lastEventId).toBe(checkpoint.id);
    // Resuming from it: no reset again.
    const again = await open('channels=r/a', { 'Last-Event-ID': c.lastEventId });
    await again.waitForEvent('ready');
    await new Promise((r) => setTimeout(r, 50));
    expect(again.events.map((e) => e.event)).toEqual(['ready']);
  });

  it('keeps an idle stream alive with heartbeat events, which script sees (comments it would not)', async () => {
    const c = await open('channels=quiet');
    await c.waitForEvent('ready');
    const beats = (): number => c.events.filter((e) => e.event === 'heartbeat').length;
    await c.waitFor(() => beats() >= 2, 2000, 'two heartbeats');
    expect(c.body).toContain('\n\nevent: heartbeat\ndata: {}\n\n');
    // Nothing but the padding is a comment.
    expect(c.comments).toBe(1);
  });

  it('rejects a malformed Last-Event-ID with 400 bad_cursor', async () => {
    const res = await fetch(`${server.url}/pushframe/events?channels=a`, { headers: { 'Last-Event-ID': 'x;y' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_cursor');
  });

  it('answers a refusal to a client that asks for an event stream (EventSource) as one fail event, and a day before it comes back', async () => {
    // EventSource reads nothing of an HTTP error: the page would only see a dropped connection.
    const asked = { accept: 'text/event-stream' };
    for (const [query, headers, code] of [
      ['channels=bad%20name', asked, 'bad_pattern'],
      ['channels=a', { ...asked, 'Last-Event-ID': 'x;y' }, 'bad_cursor'],
    ] as const) {
      const res = await fetch(`${server.url}/pushframe/events?${query}`, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache, no-store, must-revalidate');
      const body = await res.text();
      const [retry, event, data, ...end] = body.split('\n');
      expect([retry, event, data.slice(0, 6), end]).toEqual(['retry: 86400000', 'event: fail', 'data: ', ['', '']]);
      expect(JSON.parse(data.slice(6))).toEqual({ code, message: expect.stringMatching(/./) });
    }
    // A client that did not ask for an event stream (curl, a script) still gets the status and JSON.
    const plain = await fetch(`${server.url}/pushframe/events?channels=bad%20name`);
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as { error: { code: string } }).error.code).toBe('bad_pattern');
  });

  it('a refusal to come back later (a client over its connections) asks EventSource to retry after Retry-After', async () => {
    const busy = await startTestServer({ maxConnectionsPerIp: 1 });
    try {
      const held = await SseClient.open(`${busy.url}/pushframe/events?channels=a`);
      await held.waitForEvent('ready');
      const res = await fetch(`${busy.url}/pushframe/events?channels=a`, { headers: { accept: 'text/event-stream' } });
      expect(res.status).toBe(200);
      const body = await res.text();
      const retry = Number(/^retry: (\d+)\n/.exec(body)?.[1]);
      expect(retry).toBe(Number(res.headers.get('retry-after')) * 1000);
      expect(retry).toBeGreaterThanOrEqual(5000);
      expect(retry).toBeLessThanOrEqual(15000);
      expect(body).toContain('event: fail\ndata: {"code":"too_many_client_connections"');
      held.close();
    } finally {
      await busy.close();
    }
  });

  it('echoes an allowed origin and not another one', async () => {
    const good = await open('channels=a', { origin: ORIGIN });
    expect(good.res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(good.res.headers.vary).toBe('Origin');
    const bad = await open('channels=a', { origin: 'http://evil.example.test' });
    expect(bad.res.headers['access-control-allow-origin']).toBeUndefined();
    expect(bad.res.headers.vary).toBe('Origin');
    const pre = await fetch(`${server.url}/pushframe/events?channels=a`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN },
    });
    expect(pre.headers.get('access-control-allow-headers')).toBe('Last-Event-ID');
  });

  it('recycles a stream after maxStreamBytes with a retry delay, and resumes with nothing lost', async () => {
    const s = await startTestServer({ maxStreamBytes: 4096, heartbeatMs: 10_000 });
    try {
      const sent: string[] = [];
      const got: string[] = [];
      let lastId = '';
      for (let round = 0; round < 3; round++) {
        const c = await SseClient.open(
          `${s.url}/pushframe/events?channels=big`,
          lastId ? { 'Last-Event-ID': lastId } : {},
        );
        clients.push(c);
        await c.waitForEvent('ready');
        const already = c.messages.length;
        for (let i = 0; i < 3 && !c.ended; i++) sent.push(await s.hub.publish('big', 'x'.repeat(900) + sent.length));
        await c.waitForEnd();
        expect(c.retries[c.retries.length - 1]).toBe(0);
        expect(c.events[c.events.length - 1]).toEqual({ event: 'reconnect', data: '0', id: undefined });
        got.push(...c.messages.map((m) => m.id));
        expect(already).toBeLessThanOrEqual(c.messages.length);
        lastId = c.lastEventId;
      }
      const tail = await SseClient.open(`${s.url}/pushframe/events?channels=big`, { 'Last-Event-ID': lastId });
      clients.push(tail);
      await tail.waitForEvent('ready');
      await new Promise((r) => setTimeout(r, 50));
      got.push(...tail.messages.map((m) => m.id));
      expect(got).toEqual(sent);
      expect(s.stats().drops.recycle).toBeGreaterThanOrEqual(3);
    } finally {
      await s.close();
    }
  });

  it('keeps no Koa context alive for the life of an event stream', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const s = await startTestServer();
    const refs: WeakRef<Koa.Context>[] = [];
    const create = s.app.createContext.bind(s.app);
    s.app.createContext = (req, res) => {
      const ctx = create(req, res);
      refs.push(new WeakRef(ctx));
      return ctx;
    };
    const req = http.get(`${s.url}/pushframe/events?channels=a`, { agent: false }, (res) => res.resume());
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(s.stats().connections.byTransport.sse).toBe(1);
      for (let i = 0; i < 5; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(refs).toHaveLength(1);
      expect(refs[0].deref()).toBeUndefined();
      expect(s.stats().connections.byTransport.sse).toBe(1);
    } finally {
      req.destroy();
      await s.close();
    }
  });
});
