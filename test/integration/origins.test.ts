import type { PushframeServer } from '../../src';
import { publish, startTestServer } from '../helpers/server';
import { errorCode, get } from '../helpers/http';

const PAGE = 'https://www.example.com';

describe('origins, framing and the CSP nonce', () => {
  let server: PushframeServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer({ allowedOrigins: [PAGE] });
    base = `${server.url}/pushframe/stream?channels=a`;
  });
  afterAll(() => server.close());

  it('a same-origin stream may only be framed by its own origin', async () => {
    const r = await get(base, {}, 64);
    expect(r.status).toBe(200);
    expect(r.headers['content-security-policy']).toBe("frame-ancestors 'self'");
    expect(r.headers['x-frame-options']).toBe('SAMEORIGIN');
    // The htmlfile host is an ActiveX document, not the page: old IE would refuse X-Frame-Options there.
    const h = await get(base + '&t=htmlfile', {}, 64);
    expect(h.headers['content-security-policy']).toBe("frame-ancestors 'self'");
    expect(h.headers['x-frame-options']).toBeUndefined();
  });

  it('a cross-origin stream names the allowed page origin as a frame ancestor', async () => {
    const r = await get(`${base}&origin=${encodeURIComponent(PAGE)}`, {}, 2048);
    expect(r.status).toBe(200);
    expect(r.headers['content-security-policy']).toBe(`frame-ancestors 'self' ${PAGE}`);
    expect(r.headers['x-frame-options']).toBeUndefined();
    expect(r.body).toContain(`"${PAGE}"`); // the postMessage target
  });

  it('refuses an origin= that is not allowed', async () => {
    for (const o of ['https://evil.example', 'https://www.example.com.evil.example', 'javascript:alert(1)', '*', 'null']) {
      const r = await get(`${base}&origin=${encodeURIComponent(o)}`);
      expect([o, r.status, errorCode(r.body)]).toEqual([o, 403, 'bad_origin']);
    }
  });

  it('applies the Origin header policy: own host or an allowed origin', async () => {
    expect((await get(base, { origin: server.url }, 64)).status).toBe(200);
    expect((await get(base, { origin: PAGE }, 64)).status).toBe(200);
    for (const o of ['https://evil.example', 'null']) {
      const r = await get(base, { origin: o });
      expect([o, r.status, errorCode(r.body)]).toEqual([o, 403, 'bad_origin']);
    }
  });

  it('with nonce=, the stream document runs only scripts carrying it, preamble and frames alike', async () => {
    const nonce = 'rAnd0m+N0nce/Value_-==';
    const r = get(`${base}&nonce=${encodeURIComponent(nonce)}`, {}, 1 << 20);
    // A plain stream on the same channel shares the serialized message.
    const plain = get(base, {}, 1 << 20);
    await new Promise((res) => setTimeout(res, 100));
    await publish(server, 'a', '{"x":"</script><script>alert(1)</script>"}');
    await new Promise((res) => setTimeout(res, 100));
    // Recycle ends both streams so their bodies can be read whole.
    await publish(server, 'a', JSON.stringify('y'.repeat(60_000)));
    for (let i = 0; i < 5; i++) await publish(server, 'a', JSON.stringify('z'.repeat(60_000)));
    const [n, p] = await Promise.all([r, plain]);
    expect(n.headers['content-security-policy']).toBe(
      `default-src 'none'; script-src 'nonce-${nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'`,
    );
    const tags = n.body.match(/<script[^>]*>/g) ?? [];
    expect(tags.length).toBeGreaterThan(3);
    expect(new Set(tags)).toEqual(new Set([`<script nonce="${nonce}">`]));
    expect(n.body).toContain(`<script nonce="${nonce}">p.m("a","`);
    expect(n.body).toContain(`<script nonce="${nonce}">p.r(0)</script>`);
    expect(p.body).toContain('<script>p.m("a","');
    // The same escaped payload in both.
    const payload = '{"x":"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"}';
    expect(n.body).toContain(payload);
    expect(p.body).toContain(payload);
  });

  it('refuses a nonce that is not base64', async () => {
    for (const bad of ['short', '"><script>alert(1)</script>', 'a'.repeat(200), "abcdefghijklmnop'"]) {
      const r = await get(`${base}&nonce=${encodeURIComponent(bad)}`);
      expect([r.status, errorCode(r.body)]).toEqual([400, 'bad_request']);
      expect(r.body).not.toContain(bad);
    }
  });
});
