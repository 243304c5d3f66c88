import type { PushframeServer } from '../../src';
import { publish, rawRequest, startTestServer } from '../helpers/server';

let open: PushframeServer;
let keyed: PushframeServer;

beforeAll(async () => {
  open = await startTestServer({ maxMessageBytes: 1024 });
  keyed = await startTestServer({ publishKey: 's3cret-key' });
});
afterAll(async () => {
  await open.close();
  await keyed.close();
});

describe('POST /pushframe/publish/<channel>', () => {
  it('answers 202 with the id, for channels with slashes too', async () => {
    const r = await publish(open, 'stocks/eu/aex', '{"p":1}');
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ id: expect.stringMatching(/^\d+$/) });
    const again = await publish(open, 'stocks/eu/aex', '2');
    expect(Number(again.json.id)).toBeGreaterThan(Number(r.json.id));
  });

  it.each([
    ['bad JSON', 'a', '{nope', {}, 400, 'bad_json'],
    ['empty body', 'a', '', {}, 400, 'bad_json'],
        ['channel with <', '%3Cscript%3E', '1', {}, 400, 'bad_channel'],
    ['form content type', 'a', 'x=1', { 'content-type': 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
    ['text/plain', 'a', '1', { 'content-type': 'text/plain' }, 415, 'unsupported_media_type'],
    ['reserved system channel', '_sys/stats', '{"rss":1}', {}, 403, 'reserved_channel'],
    ['oversize body', 'a', JSON.stringify('x'.repeat(5000)), {}, 413, 'body_too_large'],
    ['oversize message', 'a', JSON.stringify('x'.repeat(1100)), {}, 413, 'message_too_large'],
  ])('%s', async (_name, channel, body, headers, status, code) => {
    const r = await publish(open, channel as string, body as string, headers as Record<string, string>);
    expect(r.status).toBe(status);
    expect(r.json.error.code).toBe(code);
    expect(typeof r.json.error.message).toBe('string');
  });

  it.each(['/pushframe/publish/a/../b', '/pushframe/publish/a/%2E%2E/b', '/pushframe/publish/a//b', '/pushframe/publish/%3Cscript%3E'])(
    'refuses the channel in %s',
    async (path) => {
      const r = await rawRequest(open.url, 'POST', path, '1');
      expect(r.status).toBe(400);
      expect(JSON.parse(r.text).error.code).toBe('bad_channel');
      expect(r.text).not.toContain('<script');
    },
  );

  it('answers unknown paths and methods with JSON errors', async () => {
    const notFound = await fetch(`${open.url}/pushframe/nothing`);
    expect(notFound.status).toBe(404);
    expect(((await notFound.json()) as any).error.code).toBe('not_found');
    const wrongMethod = await fetch(`${open.url}/pushframe/publish/a`);
    expect(wrongMethod.status).toBe(405);
    expect(((await wrongMethod.json()) as any).error.code).toBe('method_not_allowed');
  });

  it('requires the bearer key when one is configured', async () => {
    const none = await publish(keyed, 'a', '1');
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('unauthorized');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await publish(keyed, 'a', '1', { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    const right = await publish(keyed, 'a', '1', { authorization: 'Bearer s3cret-key' });
    expect(right.status).toBe(202);
  });

  it('keeps running after every bad request', async () => {
    const health = await fetch(`${open.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', broker: { kind: 'memory', ready: true } });
  });
});

describe('GET /pushframe/stats', () => {
  it('counts connections, channels, messages and bytes', async () => {
    const s = await startTestServer();
    await publish(s, 'x', '1');
    const stats = (await (await fetch(`${s.url}/pushframe/stats`)).json()) as any;
    expect(stats).toMatchObject({
      connections: { total: 0 },
      channels: { subscribed: 0, broker: 1 },
      messages: { in: 1, out: 0 },
      bytes: { out: 0 },
    });
    await s.close();
  });
});
describe('GET /pushframe/pushframe.js', () => {
  it('serves the bridge as JavaScript with an ETag', async () => {
    const res = await fetch(`${open.url}/pushframe/pushframe.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
    const etag = res.headers.get('etag')!;
    expect(await res.text()).toContain('Pushframe');
    const again = await fetch(`${open.url}/pushframe/pushframe.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });
});
