import { grant, resolveConfig, ConfigError, type PushframeServer } from '../../src';
import { StreamClient } from '../helpers/stream-client';
import { publish, startTestServer } from '../helpers/server';
import { errorCode, get } from '../helpers/http';

const SECRET = 'test-secret-' + 'x'.repeat(20);
const KEY = 'publish-key-123';

describe('private channels need a signed grant', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ secret: SECRET, publishKey: KEY, privateChannels: ['private/**', 'user:42/**'] });
  });
  afterAll(() => server.close());

  const stream = (channels: string, token?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> =>
    get(`${server.url}/pushframe/stream?channels=${encodeURIComponent(channels)}${token === undefined ? '' : '&token=' + encodeURIComponent(token)}`, {}, 64);

  it('public channels need none', async () => {
    const r = await stream('news,stocks/*');
    expect(r.status).toBe(200);
  });

  it('a private channel without a grant is refused before the first byte', async () => {
    const r = await stream('news,private/room');
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(errorCode(r.body)).toBe('bad_grant');
    expect(JSON.parse(r.body).error.message).toContain('private/room');
  });

  it('a valid grant opens the stream and the private messages arrive', async () => {
    const token = grant(SECRET, ['user:42/**'], 60);
    const c = await StreamClient.open(`${server.url}/pushframe/stream?channels=user:42/alerts,user:42/*&token=${token}`);
    expect(c.status).toBe(200);
    await c.waitForFrame('o');
    expect((await publish(server, 'user:42/alerts', '{"n":1}', { authorization: 'Bearer ' + KEY })).status).toBe(202);
    await c.waitForMessages(1);
    expect(c.messages[0]).toMatchObject({ channel: 'user:42/alerts', data: { n: 1 } });
    c.close();
  });

  it('an open private stream ends with a bad_grant frame when its grant expires', async () => {
    // Grants count whole seconds: this one ends within 1-2 s.
    const token = grant(SECRET, ['private/**'], 2);
    const c = await StreamClient.open(`${server.url}/pushframe/stream?channels=private/a,news&token=${token}`);
    expect(c.status).toBe(200);
    await c.waitForFrame('o');
    await c.waitForEnd(4000);
    expect(c.frames[c.frames.length - 1]).toEqual({ type: 'e', args: ['bad_grant', expect.stringMatching(/expired/)] });
  });

  it.each(['poll', 'events'])('the %s fallback checks grants the same way', async (endpoint) => {
    const url = `${server.url}/pushframe/${endpoint}?channels=${encodeURIComponent('news,private/room')}`;
    const refused = await get(url, {}, 64);
    expect(refused.status).toBe(403);
    expect(errorCode(refused.body)).toBe('bad_grant');
    const escalation = await get(`${server.url}/pushframe/${endpoint}?channels=**&token=${grant(SECRET, ['user:42/alerts'], 60)}`, {}, 64);
    expect(errorCode(escalation.body)).toBe('bad_grant');
    const allowed = await get(`${url}&token=${grant(SECRET, ['private/room'], 60)}`, {}, 64);
    expect(allowed.status).toBe(200);
  });

  it('a JSONP poll for a private channel gets the error as a call, not the data', async () => {
    const r = await get(`${server.url}/pushframe/poll?channels=private/room&callback=Pushframe._poll.c1`, {}, 64);
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^\/\*\*\/Pushframe\._poll\.c1\(\{"error":\{"code":"bad_grant"/);
  });

  it('an expired grant is refused', async () => {
    const token = grant(SECRET, ['private/**'], 1, Date.now() - 5_000);
    const r = await stream('private/a', token);
    expect(r.status).toBe(403);
    expect(errorCode(r.body)).toBe('bad_grant');
    expect(r.body).toMatch(/expired/);
  });

  it('a forged grant (another secret, or a tampered payload) is refused', async () => {
    const other = grant('not the secret', ['private/**'], 60);
    expect(errorCode((await stream('private/a', other)).body)).toBe('bad_grant');
    const real = grant(SECRET, ['private/a'], 60);
    const [v, , sig] = real.split('.');
    const widened = Buffer.from(`${Math.floor(Date.now() / 1000) + 60}|private/**`).toString('base64url');
    const r = await stream('private/b', `${v}.${widened}.${sig}`);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/signature/);
  });

  it('a grant for another channel is refused', async () => {
    const token = grant(SECRET, ['private/a'], 60);
    const r = await stream('private/b', token);
    expect(r.status).toBe(403);
    expect(errorCode(r.body)).toBe('bad_grant');
  });

  it('wildcard escalation is refused', async () => {
    const narrow = grant(SECRET, ['user:42/alerts'], 60);
    expect((await stream('user:42/alerts', narrow)).status).toBe(200);
    for (const wider of ['user:42/*', 'user:42/**', '**']) {
      const r = await stream(wider, narrow);
      expect([wider, r.status, errorCode(r.body)]).toEqual([wider, 403, 'bad_grant']);
    }
    // `*` (top-level channels only) cannot reach a private channel: no grant needed.
    expect((await stream('*')).status).toBe(200);
    // A broad grant covers its own wildcards but not the whole tree.
    const broad = grant(SECRET, ['user:42/**'], 60);
    expect((await stream('user:42/*', broad)).status).toBe(200);
    expect((await stream('**', broad)).status).toBe(403);
  });

  it('a garbage token is refused with a JSON error, not reflected', async () => {
    const hostile = '<script>alert(1)</script>';
    const r = await stream('private/a', hostile);
    expect(r.status).toBe(403);
    expect(r.body).not.toContain(hostile);
  });
});

describe('a server without a secret', () => {
  it('refuses every private subscription, saying why', async () => {
    const server = await startTestServer({});
    try {
      const r = await get(`${server.url}/pushframe/stream?channels=private/x&token=${grant('s', ['private/x'], 60)}`);
      expect(r.status).toBe(403);
      expect(r.body).toMatch(/no secret/);
    } finally {
      await server.close();
    }
  });
});

describe('publish key', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ publishKey: KEY });
  });
  afterAll(() => server.close());

  it('is required, compared exactly', async () => {
    for (const auth of [undefined, 'Bearer', 'Bearer wrong', 'Bearer ' + KEY + 'x', 'Basic ' + KEY, 'Bearer ' + KEY.slice(0, -1)]) {
      const r = await publish(server, 'a', '1', auth === undefined ? {} : { authorization: auth });
      expect([auth, r.status, r.json.error?.code]).toEqual([auth, 401, 'unauthorized']);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect((await publish(server, 'a', '1', { authorization: 'Bearer ' + KEY })).status).toBe(202);
  });
});

describe('production mode', () => {
  it('refuses to start without a publish key', async () => {
    expect(() => resolveConfig({ production: true })).toThrow(ConfigError);
    expect(() => resolveConfig({ production: true })).toThrow(/PUSHFRAME_PUBLISH_KEY/);
    await expect(startTestServer({ production: true })).rejects.toThrow(/publish key/);
    expect(resolveConfig({ production: true, publishKey: 'k' }).production).toBe(true);
  });
});
