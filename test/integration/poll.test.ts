import vm from 'node:vm';
import type { PushframeServer } from '../../src';
import { startTestServer } from '../helpers/server';

interface PollJson {
  cursor: string;
  messages: [string, string, unknown][];
  resets: string[];
  timeoutMs: number;
  reconnect?: number;
}

const ORIGIN = 'http://page.example.test';

describe('GET /pushframe/poll', () => {
  let server: PushframeServer;

  beforeAll(async () => {
    server = await startTestServer({ pollTimeoutMs: 400, allowedOrigins: [ORIGIN] });
  });
  afterAll(() => server.close());

  const url = (query: string): string => `${server.url}/pushframe/poll?${query}`;
  const q = encodeURIComponent;

  async function poll(
    query: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: PollJson; headers: Headers; ms: number }> {
    const t0 = Date.now();
    const res = await fetch(url(query), { headers });
    const json = (await res.json()) as PollJson;
    return { status: res.status, json, headers: res.headers, ms: Date.now() - t0 };
  }

  /** The client's position on `channels` now, learnt the way a client does. */
  async function position(channels: string): Promise<string> {
    const first = await poll(`channels=${channels}`);
    expect(first.json.messages).toEqual([]);
    return first.json.cursor;
  }

  it('answers a poll without a cursor at once with the current position and no-cache JSON headers', async () => {
    await server.hub.publish('first/a', 'before');
    const { status, json, headers, ms } = await poll('channels=first/a');
    expect(status).toBe(200);
    expect(ms).toBeLessThan(300);
    expect(json.messages).toEqual([]);
    expect(json.resets).toEqual([]);
    expect(json.cursor).toMatch(/^[A-Za-z0-9]+~\d+$/);
    expect(headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(headers.get('cache-control')).toBe('no-cache, no-store, must-revalidate');
    expect(headers.get('pragma')).toBe('no-cache');
    expect(headers.get('expires')).toBe('0');
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    // The message published before the client learnt its position is not news to it.
    const again = await poll(`channels=first/a&since=${q(json.cursor)}`);
    expect(again.json.messages).toEqual([]);
  });

  it('holds a poll until a message is published, then answers within the same moment', async () => {
    const cursor = await position('held/a');
    const pending = poll(`channels=held/a&since=${q(cursor)}`);
    let answered = false;
    void pending.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(answered).toBe(false);
    const t0 = Date.now();
    const id = await server.hub.publish('held/a', { n: 1 });
    const { json } = await pending;
    expect(Date.now() - t0).toBeLessThan(200);
    expect(json.messages).toEqual([['held/a', id, { n: 1 }]]);
    expect(json.cursor).not.toBe(cursor);
    // The next poll with the new cursor does not repeat the message: it is held to the timeout.
    const next = await poll(`channels=held/a&since=${q(json.cursor)}`);
    expect(next.json.messages).toEqual([]);
    expect(next.ms).toBeGreaterThanOrEqual(350);
  });

  it('answers with messages published in the same tick together, in order', async () => {
    const cursor = await position('tick/*');
    const pending = poll(`channels=tick/*&since=${q(cursor)}`);
    await new Promise((r) => setTimeout(r, 100));
    const ids = await Promise.all([
      server.hub.publish('tick/a', 1),
      server.hub.publish('tick/b', 2),
      server.hub.publish('tick/a', 3),
    ]);
    const { json } = await pending;
    expect(json.messages).toEqual([
      ['tick/a', ids[0], 1],
      ['tick/b', ids[1], 2],
      ['tick/a', ids[2], 3],
    ]);
  });

  it('keeps only the newest of keyed messages that arrive together (keep-latest)', async () => {
    const cursor = await position('keyed/a');
    const pending = poll(`channels=keyed/a&since=${q(cursor)}`);
    await new Promise((r) => setTimeout(r, 100));
    const ids = await Promise.all([
      server.hub.publish('keyed/a', 'old', { key: 'price' }),
      server.hub.publish('keyed/a', 'other', { key: 'volume' }),
      server.hub.publish('keyed/a', 'new', { key: 'price' }),
    ]);
    const { json } = await pending;
    expect(json.messages).toEqual([
      ['keyed/a', ids[1], 'other'],
      ['keyed/a', ids[2], 'new'],
    ]);
    // The cursor is past all three: the superseded one is not sent later either.
    const next = await poll(`channels=keyed/a&since=${q(json.cursor)}`);
    expect(next.json.messages).toEqual([]);
  });

  it('refuses polls beyond maxConnections with 503, as JSON or as a JSONP call', async () => {
    const s = await startTestServer({ pollTimeoutMs: 2000, maxConnections: 1 });
    try {
      const first = (await fetch(`${s.url}/pushframe/poll?channels=full`).then((r) => r.json())) as PollJson;
      const held = fetch(`${s.url}/pushframe/poll?channels=full&since=${q(first.cursor)}`).then((r) => r.json());
      await waitUntil(() => s.stats().connections.total === 1);
      const refused = await fetch(`${s.url}/pushframe/poll?channels=full`);
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_connections');
      const jsonp = await fetch(`${s.url}/pushframe/poll?channels=full&callback=Pushframe._poll.c1`);
      expect(jsonp.status).toBe(200);
      expect(await jsonp.text()).toMatch(/^\/\*\*\/Pushframe\._poll\.c1\(\{"error":\{"code":"too_many_connections"/);
      await s.hub.publish('full', 1);
      expect(((await held) as PollJson).messages).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('answers a first poll (open=1) with a cursor at once, with its backlog, though nothing else waits', async () => {
    const s = await startTestServer({ pollTimeoutMs: 10_000 });
    try {
      const first = await fetch(`${s.url}/pushframe/poll?channels=open/a`);
      const { cursor } = (await first.json()) as PollJson;
      const t0 = Date.now();
      const idle = (await (await fetch(`${s.url}/pushframe/poll?channels=open/a&since=${q(cursor)}&open=1`)).json()) as PollJson;
      expect(Date.now() - t0).toBeLessThan(5000); // not held for the 10 s
      expect(idle).toEqual({ cursor, messages: [], resets: [], timeoutMs: 10_000 });
      const id = await s.hub.publish('open/a', 'missed');
      const backlog = (await (await fetch(`${s.url}/pushframe/poll?channels=open/a&since=${q(cursor)}&open=1`)).json()) as PollJson;
      expect(backlog.messages).toEqual([['open/a', id, 'missed']]);
    } finally {
      await s.close();
    }
  });

  it('answers an idle poll after pollTimeoutMs with no messages and the same position', async () => {
    const cursor = await position('idle/a');
    const { json, ms } = await poll(`channels=idle/a&since=${q(cursor)}`);
    expect(ms).toBeGreaterThanOrEqual(380);
    expect(ms).toBeLessThan(1500);
    expect(json).toEqual({ cursor, messages: [], resets: [], timeoutMs: 400 });
  });

  it('resumes: messages published between polls come in the next answer, at once, never twice', async () => {
    let cursor = await position('resume/a,resume/b');
    const sent: [string, string, unknown][] = [];
    for (let i = 0; i < 5; i++) {
      const ch = i % 2 ? 'resume/b' : 'resume/a';
      sent.push([ch, await server.hub.publish(ch, i), i]);
    }
    const got: [string, string, unknown][] = [];
    const first = await poll(`channels=resume/a,resume/b&since=${q(cursor)}`);
    expect(first.ms).toBeLessThan(300);
    got.push(...first.json.messages);
    cursor = first.json.cursor;
    sent.push(['resume/a', await server.hub.publish('resume/a', 'late'), 'late']);
    const second = await poll(`channels=resume/a,resume/b&since=${q(cursor)}`);
    got.push(...second.json.messages);
    expect(got).toEqual(sent);
  });

  it('signals a reset when history no longer covers the gap, and for a cursor of another epoch', async () => {
    const small = await startTestServer({ pollTimeoutMs: 400, historySize: 2 });
    try {
      const first = await fetch(`${small.url}/pushframe/poll?channels=gap/a,gap/b`).then(
        (r) => r.json() as Promise<PollJson>,
      );
      for (let i = 0; i < 5; i++) await small.hub.publish('gap/a', i);
      const idB = await small.hub.publish('gap/b', 'kept');
      const res = await fetch(`${small.url}/pushframe/poll?channels=gap/a,gap/b&since=${q(first.cursor)}`);
      const json = (await res.json()) as PollJson;
      expect(json.resets).toEqual(['gap/a']);
      expect(json.messages).toEqual([['gap/b', idB, 'kept']]);
      // The answer's cursor covers the reset: the next poll does not reset again.
      const after = await fetch(`${small.url}/pushframe/poll?channels=gap/a,gap/b&since=${q(json.cursor)}`);
      expect((await after.json()) as PollJson).toEqual({
        cursor: json.cursor,
        messages: [],
        resets: [],
        timeoutMs: 400,
      });

      const foreign = await fetch(`${small.url}/pushframe/poll?channels=gap/a,gap/b&since=${q('otherepoch~3')}`);
      const fj = (await foreign.json()) as PollJson;
      expect(fj.resets).toEqual(['gap/a', 'gap/b']);
      expect(fj.messages).toEqual([]);
      expect(fj.cursor.startsWith(first.cursor.split('~')[0] + '~')).toBe(true);
    } finally {
      await small.close();
    }
  });

  it('rejects a malformed cursor and a missing channel list with JSON errors', async () => {
    const bad = await poll('channels=a&since=nope');
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: { code: 'bad_cursor', message: expect.any(String) } });
    const none = await poll('since=');
    expect(none.status).toBe(400);
    expect((none.json as unknown as { error: { code: string } }).error.code).toBe('bad_pattern');
  });

  describe('JSONP', () => {
    it('wraps the answer in the callback after /**/, as script-safe JavaScript', async () => {
      const cursor = await position('jsonp/a');
      const hostile = { s: '</script><script>alert(1)</script>', c: '<!--', u: '\u2028\u2029', amp: '&amp;', e: 'é' };
      const id = await server.hub.publish('jsonp/a', hostile);
      const res = await fetch(url(`channels=jsonp/a&since=${q(cursor)}&callback=Pushframe._poll.f12`));
      const body = await res.text();
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-cache, no-store, must-revalidate');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(body.startsWith('/**/Pushframe._poll.f12({"cursor":"')).toBe(true);
      expect(body.endsWith('});')).toBe(true);
      // Nothing in the body can end a script element, open a comment or break a line.
      expect(body).not.toMatch(/[<>&\u2028\u2029]/);
      expect(/^[\x20-\x7e]*$/.test(body)).toBe(true);
      let got: PollJson | null = null;
      vm.runInNewContext(body, { Pushframe: { _poll: { f12: (answer: PollJson) => (got = answer) } } });
      expect(got).toEqual({
        cursor: expect.any(String),
        messages: [['jsonp/a', id, hostile]],
        resets: [],
        timeoutMs: 400,
      });
    });

    it('reports errors after a valid callback as a call with an error object (browsers run no script from a 4xx)', async () => {
      const res = await fetch(url('channels=a&since=garbage&callback=Pushframe._poll.c1'));
      const body = await res.text();
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
      let got: unknown = null;
      vm.runInNewContext(body, { Pushframe: { _poll: { c1: (x: unknown) => (got = x) } } });
      expect(got).toEqual({ error: { code: 'bad_cursor', message: expect.any(String) } });
      expect(body).not.toContain('<');
    });

    const tail63 = 'a'.repeat(63);
    const hostileNames: [string, string][] = [
      ['a call and a comment', 'alert(1)//'],
      ['a statement separator', 'a;b'],
      ['markup', '<script>'],
      ['a function of the page', 'alert'],
      ['a navigation', 'location.assign'],
      ['a member of the bridge that is not a callback', 'Pushframe.connect'],
      ['an inherited member', 'Pushframe._poll.constructor'],
      ['the prototype', 'Pushframe._poll.__proto__'],
      ['a member without a digit', 'Pushframe._poll.valueOf'],
      ['a member of a member', 'Pushframe._poll.f1.call'],
      ['an upper-case member', 'Pushframe._poll.F1'],
      ['a member starting with a digit', 'Pushframe._poll.1f'],
      ['a 65-character member', 'Pushframe._poll.f1' + tail63],
      ['another global with the bridge namespace as a prefix', 'XPushframe._poll.f1'],
      ['a namespace prefix', 'Pushframe._pollx.f1'],
      ['an empty segment', 'Pushframe.._poll.f1'],
      ['a trailing dot', 'Pushframe._poll.f1.'],
      ['bracket access', 'Pushframe._poll["f1"]'],
      ['a space', 'Pushframe._poll.f 1'],
      ['a newline', 'Pushframe._poll.f1\nalert'],
      ['a non-ASCII letter', 'Pushframe._poll.cafè1'],
      ['a line separator', 'Pushframe._poll.f1\u2028'],
      ['a hyphen', 'Pushframe._poll.f-1'],
      ['an empty name', ''],
      ['an assignment', 'Pushframe._poll.f1=alert'],
      ['a comma expression', 'Pushframe._poll.f1,alert'],
      ['a name any dotted-identifier grammar took', 'jQuery123_456'],
    ];

    it.each(hostileNames)('rejects %s with 400 JSON bad_callback and never echoes it', async (_what, name) => {
      const res = await fetch(url(`channels=a&callback=${q(name)}`));
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(JSON.parse(text)).toEqual({ error: { code: 'bad_callback', message: expect.any(String) } });
      if (name.length > 0) expect(text).not.toContain(name);
    });

    it("accepts the bridge's names, up to 64 characters after the namespace", async () => {
      for (const name of ['Pushframe._poll.f12_k3j9x_5', 'Pushframe._poll.pos7', 'Pushframe._poll.f1' + 'a'.repeat(62)]) {
        const res = await fetch(url(`channels=a&callback=${q(name)}`));
        expect(res.status).toBe(200);
        expect(await res.text()).toMatch(new RegExp('^/\\*\\*/' + name.replace(/\./g, '\\.') + '\\('));
      }
    });

    it('takes the namespaces PUSHFRAME_JSONP_CALLBACKS lists, instead of the default', async () => {
      // As docs/fallbacks.md shows it: --jsonp-callbacks Pushframe._poll,myApp.jsonp
      const s = await startTestServer({ jsonpCallbacks: ['Pushframe._poll', 'myApp.jsonp'] });
      try {
        const ok = await fetch(`${s.url}/pushframe/poll?channels=a&callback=myApp.jsonp.cb1`);
        expect(await ok.text()).toMatch(/^\/\*\*\/myApp\.jsonp\.cb1\(\{"cursor"/);
        const bridge = await fetch(`${s.url}/pushframe/poll?channels=a&callback=Pushframe._poll.f1`);
        expect(bridge.status).toBe(200);
        const other = await fetch(`${s.url}/pushframe/poll?channels=a&callback=myApp.f1`);
        expect(other.status).toBe(400);
      } finally {
        await s.close();
      }
      for (const ns of ['window', 'location', 'top.x', 'a.constructor', 'alert(1)', 'a.b.c.d.e']) {
        await expect(startTestServer({ jsonpCallbacks: [ns] })).rejects.toThrow(/jsonpCallbacks: .* is not a namespace/);
      }
    });

    it('rejects a repeated callback parameter', async () => {
      const res = await fetch(url('channels=a&callback=a&callback=b'));
      expect(res.status).toBe(400);
    });
  });

  describe('CORS', () => {
    it('echoes an allowed origin and always varies on Origin', async () => {
      const { headers } = await poll('channels=a', { origin: ORIGIN });
      expect(headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(headers.get('vary')).toBe('Origin');
    });

    it('refuses other origins, with no Access-Control-Allow-Origin (errors too)', async () => {
      // The Origin policy of every subscribing endpoint: a foreign origin is refused outright.
      const refused = await poll('channels=a', { origin: 'http://evil.example.test' });
      expect(refused.status).toBe(403);
      expect((refused.json as unknown as { error: { code: string } }).error.code).toBe('bad_origin');
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(refused.headers.get('vary')).toBe('Origin');
      const err = await poll('channels=a&since=bad', { origin: 'http://evil.example.test' });
      expect(err.status).toBe(403);
      expect(err.headers.get('access-control-allow-origin')).toBeNull();
      const allowedErr = await poll('channels=a&since=bad', { origin: ORIGIN });
      expect(allowedErr.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    });

    it('answers a preflight for allowed origins only', async () => {
      const good = await fetch(url('channels=a'), { method: 'OPTIONS', headers: { origin: ORIGIN } });
      expect(good.status).toBe(204);
      expect(good.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(good.headers.get('access-control-allow-methods')).toBe('GET');
      const bad = await fetch(url('channels=a'), {
        method: 'OPTIONS',
        headers: { origin: 'http://evil.example.test' },
      });
      expect(bad.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  it('frees the subscription at once when the client leaves a held poll', async () => {
    const cursor = await position('leave/a');
    const before = server.hub.stats().subscribers;
    const ac = new AbortController();
    const pending = fetch(url(`channels=leave/a&since=${q(cursor)}`), { signal: ac.signal }).catch(() => null);
    await waitUntil(() => server.stats().connections.byTransport.longpoll === 1);
    expect(server.hub.stats().subscribers).toBe(before + 1);
    ac.abort();
    await pending;
    await waitUntil(() => server.stats().connections.byTransport.longpoll === 0);
    expect(server.hub.stats().subscribers).toBe(before);
  });

  it('answers held polls at once on shutdown, asking the client to come back after a delay', async () => {
    const s = await startTestServer({ pollTimeoutMs: 10_000, reconnectJitterMs: 1000, shutdownTimeoutMs: 300 });
    const first = (await fetch(`${s.url}/pushframe/poll?channels=bye`).then((r) => r.json())) as PollJson;
    const pending = fetch(`${s.url}/pushframe/poll?channels=bye&since=${q(first.cursor)}`).then(
      (r) => r.json() as Promise<PollJson>,
    );
    await waitUntil(() => s.stats().connections.byTransport.longpoll === 1);
    const t0 = Date.now();
    const shut = s.shutdown();
    const json = await pending;
    expect(Date.now() - t0).toBeLessThan(500);
    expect(json.cursor).toBe(first.cursor);
    expect(json.reconnect).toBeGreaterThanOrEqual(0);
    expect(json.reconnect).toBeLessThanOrEqual(1000);
    await shut;
  });
});

async function waitUntil(pred: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
