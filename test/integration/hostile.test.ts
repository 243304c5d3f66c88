import type { PushframeServer } from '../../src';
import { StreamClient } from '../helpers/stream-client';
import { publish, startTestServer } from '../helpers/server';
import { errorCode, get, rawExchange } from '../helpers/http';

/**
 * Hostile input: every request is answered with a 4xx JSON error (or the connection is
 * closed), never reflected unescaped, and neither the process nor other clients notice.
 */

const HEADERS_TIMEOUT_MS = 400;
const SCRIPT = '<script>alert(1)</script>';

let server: PushframeServer;
let witness: StreamClient;

beforeAll(async () => {
  server = await startTestServer({ headersTimeoutMs: HEADERS_TIMEOUT_MS, maxChannels: 50, maxHeaderBytes: 64 * 1024 });
  // Opened before the barrage; must still get a message published after it.
  witness = await StreamClient.open(`${server.url}/pushframe/stream?channels=witness`);
  await witness.waitForFrame('o');
});

afterAll(async () => {
  witness.close();
  await server.close();
});

/** A raw GET so the query goes on the wire exactly as written (no client-side fixing). */
async function rawGet(path: string): Promise<{ status: number; body: string; text: string }> {
  const r = await rawExchange(server.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1] ?? 0);
  const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
  return { status, body, text: r.text };
}

function expectJsonError(r: { status: number; body: string }, code?: string): void {
  expect(r.status).toBeGreaterThanOrEqual(400);
  expect(r.status).toBeLessThan(500);
  const got = errorCode(r.body);
  expect(got).not.toBeNull();
  if (code) expect(got).toBe(code);
}

const S = '/pushframe/stream?';

describe('malformed query strings', () => {
  it.each([
    ['bad percent escape', `${S}channels=%zz`, 'bad_pattern'],
    ['bad percent escape in since', `${S}channels=a&since=%zz%`, 'bad_cursor'],
    ['repeated channels', `${S}channels=a&channels=b`, 'bad_request'],
    ['repeated since', `${S}channels=a&since=x&since=y`, 'bad_request'],
    ['repeated t', `${S}channels=a&t=iframe&t=htmlfile`, 'bad_request'],
    ['channels as an object', `${S}channels[a]=1`, 'bad_pattern'],
    ['empty channels', `${S}channels=`, 'bad_pattern'],
    ['no channels', `${S}`, 'bad_pattern'],
    ['nul byte', `${S}channels=a%00b`, 'bad_pattern'],
    ['huge (10 KB) value', `${S}channels=a&f=${'x'.repeat(10_000)}`, 'bad_request'],
    ['script in t', `${S}channels=a&t=${encodeURIComponent(SCRIPT)}`, 'bad_request'],
    ['script in f', `${S}channels=a&f=${encodeURIComponent(SCRIPT)}`, 'bad_request'],
    ['script in d', `${S}channels=a&d=${encodeURIComponent(SCRIPT)}`, 'bad_request'],
    ['script in origin', `${S}channels=a&origin=${encodeURIComponent(SCRIPT)}`, 'bad_origin'],
  ])('%s', async (_name, path, code) => {
    const r = await rawGet(path);
    expectJsonError(r, code);
    expect(r.body).not.toContain('<script>');
  });
});

describe('hostile channel names', () => {
  it.each([
    ['dot-dot segment', 'a/../b'],
    ['dot segment', 'a/./b'],
    ['leading dot-dot', '..'],
    ['script', SCRIPT],
    ['quote and backslash', 'a"b\\c'],
    ['unicode', 'kanäle/ü'],
    ['line separator', 'a\u2028b'],
    ['emoji', '\u{1F4A9}'],
    ['empty segment', 'a//b'],
    ['wildcard in the middle', 'a/*/b'],
    ['201 characters', 'a'.repeat(201)],
    ['8 KB name', 'a'.repeat(8000)],
  ])('subscribe: %s', async (_name, channel) => {
    const r = await rawGet(`${S}channels=${encodeURIComponent(channel)}`);
    expectJsonError(r, 'bad_pattern');
    expect(r.body).not.toContain(channel);
  });

  it.each([
    ['dot-dot segment', 'a/../b'],
    ['encoded dot-dot', 'a/%2e%2e/b'],
    ['script', encodeURIComponent(SCRIPT)],
    ['unicode', encodeURIComponent('ü')],
    ['bad escape', '%zz'],
    ['huge name', 'a'.repeat(5000)],
  ])('publish: %s', async (_name, path) => {
    const r = await rawExchange(
      server.port,
      `POST /pushframe/publish/${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\n1`,
    );
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1]);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(r.text).not.toContain('<script>');
    expect(r.text).toMatch(/"code":"(bad_channel|not_found|bad_request)"/);
  });

  it('5 000 channels in one subscription', async () => {
    const channels = Array.from({ length: 5000 }, (_, i) => 'c' + i).join(',');
    const r = await rawGet(`${S}channels=${channels}`);
    expectJsonError(r, 'too_many_channels');
  });

  it('5 000 channels past the header limit get 431', async () => {
    const channels = Array.from({ length: 5000 }, (_, i) => 'a-rather-long-channel-number-' + i).join(',');
    const r = await rawGet(`${S}channels=${channels}`);
    expect(r.status).toBe(431);
    expect(errorCode(r.body)).toBe('header_too_large');
  });
});

describe('JSONP callbacks', () => {
  it.each(['alert(1)//', 'a;b', '</script><script>x', 'a..b', 'a.' + 'b'.repeat(65), '\u00e9', 'x\u2028y', '1abc', ''])(
    'refuses callback=%j with 400 bad_callback, not echoed',
    async (callback) => {
      const r = await rawGet(`/pushframe/poll?channels=news&callback=${encodeURIComponent(callback)}`);
      expectJsonError(r, 'bad_callback');
      if (callback.length > 3) expect(r.text).not.toContain(callback);
    },
  );
});

describe('bad resume cursors', () => {
  it.each([
    ['garbage', 'garbage'],
    ['script', SCRIPT],
    ['bad epoch', '!!~1'],
    ['bad base', 'abc~x'],
    ['bad entry', 'abc~1,<b>@1'],
    ['entry without id', 'abc~1,a@'],
    ['huge id', 'abc~' + '9'.repeat(400)],
    ['unicode', 'abc~1,ü@1'],
    ['68 000 characters', 'abc~1' + ',a@1'.repeat(17_000)],
  ])('%s', async (_name, since) => {
    const r = await rawGet(`${S}channels=a&since=${encodeURIComponent(since)}`);
    expectJsonError(r);
    expect(['bad_cursor', 'header_too_large']).toContain(errorCode(r.body));
    expect(r.body).not.toContain('<script>');
  });
});

describe('bad and huge JSON bodies', () => {
  it.each([
    ['truncated', '{"a":'],
    ['not JSON', SCRIPT],
    ['trailing garbage', '{}x'],
    ['nul bytes', '\u0000\u0000'],
    ['invalid UTF-8', Buffer.from([0x22, 0xff, 0xfe, 0x22]).toString('latin1')],
    ['empty', ''],
  ])('%s', async (_name, body) => {
    const r = await publish(server, 'a', body);
    expect(r.status).toBeLessThan(500);
    expect(r.status).toBeGreaterThanOrEqual(200);
    if (r.status !== 202) expect(r.json.error.code).toBe('bad_json');
    expect(JSON.stringify(r.json)).not.toContain('<script>');
  });

  it('nesting deeper than the serializer can follow', async () => {
    const depth = 30_000;
    const r = await publish(server, 'a', '['.repeat(depth) + ']'.repeat(depth));
    expect([r.status, r.json.error.code]).toEqual([400, 'bad_json']);
  });

  it('a 10 MB body is refused without being read', async () => {
    const r = await publish(server, 'a', JSON.stringify('x'.repeat(10 * 1024 * 1024)));
    expect([r.status, r.json.error.code]).toEqual([413, 'body_too_large']);
  });

  it('a body that never finishes (lying Content-Length) is answered 408 and closed', async () => {
    const started = Date.now();
    const r = await rawExchange(
      server.port,
      'POST /pushframe/publish/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}',
      HEADERS_TIMEOUT_MS * 10,
    );
    expect(r.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(HEADERS_TIMEOUT_MS * 5);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.text).toContain('"code":"request_timeout"');
  });

  it('the wrong content type', async () => {
    const r = await publish(server, 'a', '1', { 'content-type': 'text/html' });
    expect([r.status, r.json.error.code]).toEqual([415, 'unsupported_media_type']);
  });
});

describe('raw garbage on the socket', () => {
  it.each([
    ['binary', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256))],
    ['not HTTP', 'HELLO THERE\r\n\r\n'],
    ['bad method', 'G\u0000T / HTTP/1.1\r\n\r\n'],
    ['bad version', 'GET / HTTP/9.9\r\n\r\n'],
    ['header without colon', 'GET / HTTP/1.1\r\nHost x\r\n\r\n'],
    ['script request line', `GET /${SCRIPT} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
    ['huge header', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(80_000)}\r\n\r\n`],
    ['smuggling: two lengths', 'POST /pushframe/publish/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n12'],
  ])('%s', async (_name, data) => {
    const r = await rawExchange(server.port, data);
    expect(r.closed).toBe(true);
    if (r.text !== '') {
      expect(r.text).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(r.text).toMatch(/"code":"[a-z_]+"/);
    }
    expect(r.text).not.toContain('<script>');
  });

  it('a request whose headers never finish is closed after headersTimeout', async () => {
    const started = Date.now();
    const r = await rawExchange(server.port, 'GET /pushframe/stream?channels=a HTTP/1.1\r\nHost: x\r\nX-Slow: ', HEADERS_TIMEOUT_MS * 10);
    const took = Date.now() - started;
    expect(r.closed).toBe(true);
    expect(took).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(HEADERS_TIMEOUT_MS * 5);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(errorCode(r.text.slice(r.text.indexOf('\r\n\r\n') + 4))).toBe('request_timeout');
  });
});

describe('after the barrage', () => {
  it('the server is alive and the earlier stream still receives', async () => {
    const health = await get(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect((await publish(server, 'witness', '{"after":"barrage"}')).status).toBe(202);
    await witness.waitForMessages(1);
    expect(witness.messages).toEqual([{ channel: 'witness', id: expect.any(String), data: { after: 'barrage' } }]);
    expect(witness.ended).toBe(false);
  });
});
