import net from 'node:net';
import type { PushframeServer } from '../../src';
import { StreamClient } from '../helpers/stream-client';
import { publish, startTestServer } from '../helpers/server';

let server: PushframeServer;
const clients: StreamClient[] = [];

async function open(query: string, s: PushframeServer = server): Promise<StreamClient> {
  const c = await StreamClient.open(`${s.url}/pushframe/stream?${query}`);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startTestServer({ heartbeatMs: 200 });
});
afterEach(() => {
  while (clients.length) clients.pop()!.close();
});
afterAll(() => server.close());

describe('GET /pushframe/stream', () => {
  it('answers with streaming, uncacheable, uncompressed HTML', async () => {
    const c = await open('channels=demo');
    expect(c.status).toBe(200);
    const h = c.res.headers;
    expect(h['content-type']).toBe('text/html; charset=utf-8');
    expect(h['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(h['pragma']).toBe('no-cache');
    expect(h['expires']).toBe('0');
    expect(h['x-accel-buffering']).toBe('no');
    expect(h['transfer-encoding']).toBe('chunked');
    expect(h['content-encoding']).toBeUndefined();
    expect(h['content-length']).toBeUndefined();
  });

  it('sends a preamble of at least 2 KiB with a charset, then an open frame', async () => {
    const c = await open('channels=demo');
    await c.waitForFrame('o');
    expect(c.preamble.length).toBeGreaterThanOrEqual(2048);
    expect(c.preamble.length).toBeLessThan(2300);
    expect(c.preamble.slice(0, 120)).toContain('<meta charset="utf-8">');
    expect(c.preamble).toContain('parent.Pushframe._frame("0")');
    expect(c.frames[0]).toEqual({ type: 'o', args: [expect.stringMatching(/^[A-Za-z0-9]+~\d+$/), 200, expect.stringMatching(/^[A-Za-z0-9_-]{22}$/)] });
  });

  it('streams each message as one script chunk, exactly as on the wire', async () => {
    const c = await open('channels=demo');
    await c.waitForFrame('o');
    const r = await publish(server, 'demo', '{"hello":1}');
    expect(r.status).toBe(202);
    await c.waitForMessages(1);
    expect(c.body).toContain(`<script>p.m("demo","${r.json.id}",{"hello":1})</script>`);
  });

  it('never lets a payload end the script or open a comment', async () => {
    const c = await open('channels=demo');
    await c.waitForFrame('o');
    const hostile = ['</script><script>alert(1)</script>', '<!--<script>', '\u2028\u2029', '<![CDATA[', '&amp;'];
    for (const h of hostile) await publish(server, 'demo', JSON.stringify({ h }));
    await c.waitForMessages(hostile.length);
    const afterPreamble = c.body.slice(c.preamble.length);
    // Every '<' after the preamble belongs to our own <script> / </script> tags.
    const stripped = afterPreamble.replace(/<script>|<\/script>/g, '');
    expect(stripped).not.toMatch(/[<>\u2028\u2029]/);
    expect(c.messages.map((m) => (m.data as { h: string }).h)).toEqual(hostile);
  });

  it('puts messages published in the same tick into one write', async () => {
    const c = await open('channels=burst');
    await c.waitForFrame('o');
    const frames = c.frames.length;
    await Promise.all([server.hub.publish('burst', 1), server.hub.publish('burst', 2), server.hub.publish('burst', 3)]);
    await c.waitForMessages(3);
    const batches = c.frames.slice(frames).filter((f) => f.type === 'm');
    expect(batches).toHaveLength(1);
    expect(batches[0].args.filter((_, i) => i % 3 === 2)).toEqual([1, 2, 3]);
  });

  it('multiplexes channels and wildcards on one stream', async () => {
    const c = await open('channels=' + encodeURIComponent('a,s/*,t/**'));
    await c.waitForFrame('o');
    await server.hub.publish('a', 'a');
    await server.hub.publish('s/x', 'sx');
    await server.hub.publish('s/x/y', 'no');
    await server.hub.publish('t/x/y', 'txy');
    await server.hub.publish('b', 'no');
    await server.hub.publish('a', 'a2');
    await c.waitForMessages(4);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.messages.map((m) => m.data)).toEqual(['a', 'sx', 'txy', 'a2']);
  });

  it('sends heartbeats while idle', async () => {
    const c = await open('channels=quiet');
    await c.waitFor((x) => x.frames.filter((f) => f.type === 'h').length >= 2, 2000, 'two heartbeats');
  });

  it('serves the htmlfile variant with the same frames', async () => {
    const c = await open('channels=demo&t=htmlfile&f=h1');
    await c.waitForFrame('o');
    expect(c.preamble).toContain('parent.Pushframe._frame("h1")');
    await publish(server, 'demo', '2');
    await c.waitForMessages(1);
    expect(server.stats().connections.byTransport.htmlfile).toBe(1);
  });

  it('resumes after a reconnect with nothing lost or duplicated', async () => {
    const first = await open('channels=r');
    await first.waitForFrame('o');
    for (let i = 0; i < 5; i++) await server.hub.publish('r', i);
    await first.waitForMessages(5);
    first.close();
    for (let i = 5; i < 10; i++) await server.hub.publish('r', i);
    const second = await open('channels=r&since=' + encodeURIComponent(first.cursor));
    await second.waitForMessages(5);
    for (let i = 10; i < 12; i++) await server.hub.publish('r', i);
    await second.waitForMessages(7);
    await new Promise((r) => setTimeout(r, 50));
    expect([...first.messages, ...second.messages].map((m) => m.data)).toEqual([...Array(12).keys()]);
  });

  it('frees a connection as soon as the client goes away', async () => {
    const c = await open('channels=gone');
    await c.waitForFrame('o');
    const before = server.stats().connections.total;
    c.close();
    const deadline = Date.now() + 2000;
    while (server.stats().connections.total >= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(server.stats().connections.total).toBe(before - 1);
    expect(server.hub.stats().subscribers).toBe(before - 1);
  });

  it.each([
    ['', 'bad_pattern'],
    ['channels=a/../b', 'bad_pattern'],
    ['channels=%3Cscript%3E', 'bad_pattern'],
    ['channels=a&since=garbage', 'bad_cursor'],
    ['channels=a&t=xhr', 'bad_request'],
    ['channels=a&f=%22%3E', 'bad_request'],
    ['channels=a&channels=b', 'bad_request'],
    ['channels=a&origin=https%3A%2F%2Fevil.example', 'bad_origin'],
    ['channels=' + Array.from({ length: 51 }, (_, i) => 'c' + i).join(','), 'too_many_channels'],
  ])('refuses ?%s with a JSON error before the first byte (%s)', async (query, code) => {
    const res = await fetch(`${server.url}/pushframe/stream?${query}`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    // Nothing of the input is reflected.
    expect(body.error.message).not.toMatch(/[<>]|evil|garbage|xhr/);
  });
});

describe('recycling and limits', () => {
  let small: PushframeServer;
  beforeAll(async () => {
    small = await startTestServer({ maxStreamBytes: 4096, heartbeatMs: 60_000 });
  });
  afterAll(() => small.close());

  it('ends the stream with a reconnect instruction after maxStreamBytes, and the cursor resumes', async () => {
    const c = await open('channels=big', small);
    await c.waitForFrame('o');
    const payload = 'x'.repeat(500);
    for (let i = 0; i < 6; i++) {
      await small.hub.publish('big', { i, payload });
      await new Promise((r) => setTimeout(r, 5)); // one write each, not one batch
    }
    await c.waitForEnd();
    const last = c.frames[c.frames.length - 1];
    expect(last).toEqual({ type: 'r', args: [0] });
    expect(c.body.length).toBeGreaterThanOrEqual(4096);
    const got = c.messages.length;
    expect(got).toBeLessThan(6);
    const next = await open('channels=big&since=' + encodeURIComponent(c.cursor), small);
    await next.waitForMessages(6 - got);
    expect([...c.messages, ...next.messages].map((m) => (m.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('tells every stream to reconnect, with a delay within the jitter, on shutdown', async () => {
    const s = await startTestServer({ reconnectJitterMs: 3000, shutdownTimeoutMs: 2000 });
    const cs = await Promise.all([open('channels=a', s), open('channels=b', s), open('channels=c', s)]);
    await Promise.all(cs.map((c) => c.waitForFrame('o')));
    await s.shutdown();
    for (const c of cs) {
      await c.waitForEnd();
      const last = c.frames[c.frames.length - 1];
      expect(last.type).toBe('r');
      expect(last.args[0]).toBeGreaterThanOrEqual(0);
      expect(last.args[0]).toBeLessThan(3000);
    }
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });

  it('keeps serving after raw garbage on a socket', async () => {
    const sock = net.connect(small.port, '127.0.0.1');
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      sock.on('data', (d) => (text += d.toString()));
      sock.on('close', () => resolve(text));
      sock.write('\x00\x01garbage\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(answer).toContain('"code":"bad_request"');
    const health = await fetch(`${small.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
