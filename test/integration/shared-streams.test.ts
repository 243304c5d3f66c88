import { grant, type PushframeServer } from '../../src';
import { errorCode, get } from '../helpers/http';
import { publish, startTestServer } from '../helpers/server';
import { StreamClient } from '../helpers/stream-client';

/**
 * What the server does for tabs that share a stream (docs/bridge.md, "Many tabs, one
 * stream"): each private entry of a shared subscription is allowed by the grant it
 * names; and the per-browser budget (maxStreamsPerBrowser, default 2) for tabs that
 * cannot share.
 */

const SECRET = 'shared-streams-secret-' + 'x'.repeat(12);

describe('a shared subscription names the grant of each entry (pattern!n)', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ secret: SECRET });
  });
  afterAll(() => server.close());

  const stream = (channels: string, tokens: string[]): ReturnType<typeof get> =>
    get(`${server.url}/pushframe/stream?channels=${encodeURIComponent(channels)}&token=${encodeURIComponent(tokens.join(','))}`, {}, 64);

  it('opens when every private entry is covered by the grant it names', async () => {
    const t0 = grant(SECRET, ['private/a'], 60);
    const t1 = grant(SECRET, ['private/b/**'], 60);
    const c = await StreamClient.open(
      `${server.url}/pushframe/stream?channels=${encodeURIComponent('news!0,private/a!0,private/b/c!1,news')}&token=${t0},${t1}`,
    );
    expect(c.status).toBe(200);
    await c.waitForFrame('o');
    await server.hub.publish('private/b/c', { n: 1 });
    await server.hub.publish('news', { n: 2 });
    await c.waitForMessages(2);
    // `news` named twice (two tabs) is one subscription: delivered once.
    expect(c.messages.map((m) => m.channel)).toEqual(['private/b/c', 'news']);
    c.close();
  });

  it("refuses a private entry covered only by another entry's grant", async () => {
    const t0 = grant(SECRET, ['private/a'], 60);
    // Tab 0 holds a grant for private/a; the tab asking for private/a without one must not ride on it.
    for (const channels of ['private/a!0,private/a', 'private/a!0,private/a!1']) {
      const r = await stream(channels, [t0]);
      expect(r.status).toBe(403);
      expect(errorCode(r.body)).toBe('bad_grant');
    }
    const other = grant(SECRET, ['private/z'], 60);
    const r = await stream('private/z!0,private/a!1', [other, t0.slice(0, -2) + 'AA']);
    expect(errorCode(r.body)).toBe('bad_grant');
    expect(JSON.parse(r.body).error.message).toMatch(/signature/);
  });

  it('rejects a malformed grant reference clearly', async () => {
    const r = await stream('news!99', []);
    expect(r.status).toBe(400);
    expect(errorCode(r.body)).toBe('bad_request');
    expect(errorCode((await stream('news!x', [])).body)).toBe('bad_pattern');
  });
});

describe('per-browser budget (maxStreamsPerBrowser, default 2)', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  const stats = async (): Promise<{ total: number; browsers: number; capped: number }> =>
    ((await (await fetch(server.url + '/pushframe/stats')).json()) as { connections: { total: number; browsers: number; capped: number } }).connections;

  it('holds two streams of one browser and answers the third quickly; other browsers are not affected', async () => {
    expect(server.config.maxStreamsPerBrowser).toBe(2);
    expect(server.config.cappedPollMs).toBe(2000);
    const first = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`);
    const setCookie = String(first.res.headers['set-cookie']);
    const m = /pf_browser=([A-Za-z0-9_-]{22}); Path=\/pushframe; HttpOnly; SameSite=Lax/.exec(setCookie);
    expect(m).not.toBeNull();
    const cookie = { cookie: 'pf_browser=' + m![1] };
    const second = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`, cookie);
    await Promise.all([first.waitForFrame('o'), second.waitForFrame('o')]);
    expect(second.res.headers['set-cookie']).toBeUndefined();
    await publish(server, 'a', '{"n":1}');
    await Promise.all([first.waitForMessages(1), second.waitForMessages(1)]);

    // The third stream of this browser: its open frame and backlog, then a reconnect, and it ends.
    const third = await StreamClient.open(`${server.url}/pushframe/stream?channels=a&since=${encodeURIComponent(first.cursor.split(',')[0])}`, cookie);
    await third.waitForEnd();
    expect(third.frames.map((f) => f.type)).toEqual(['o', 'm', 'c', 'r']);
    expect(third.frames[3].args).toEqual([2000]);
    // Its long-poll is answered at once, asking for the same wait.
    const t0 = Date.now();
    const poll = await get(`${server.url}/pushframe/poll?channels=a&since=${encodeURIComponent(second.cursor)}`, cookie);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(JSON.parse(poll.body)).toMatchObject({ messages: [], reconnect: 2000 });

    // Another browser (no cookie) is held as usual.
    const elsewhere = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`);
    await elsewhere.waitForFrame('o');
    await new Promise((r) => setTimeout(r, 200));
    expect(elsewhere.ended).toBe(false);
    const s = await stats();
    expect(s).toMatchObject({ total: 3, browsers: 2, capped: 2 });
    const metrics = await (await fetch(server.url + '/metrics')).text();
    expect(metrics).toMatch(/^pushframe_browsers 2$/m);
    expect(metrics).toMatch(/^pushframe_capped_requests_total 2$/m);
    for (const c of [first, second, elsewhere]) c.close();
  });
});
