import http from 'node:http';
import zlib from 'node:zlib';
import type { PushframeServer } from '../../src';
import { startNginx, type Nginx } from '../helpers/nginx';
import { startTestServer } from '../helpers/server';
import { SseClient } from '../helpers/sse-client';
import { StreamClient } from '../helpers/stream-client';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * nginx in front of the server with its default `proxy_buffering on` and a 1 s
 * `proxy_read_timeout`: streams must pass unbuffered (X-Accel-Buffering: no) and
 * heartbeats (300 ms) must keep idle streams open.
 */
describe('through nginx (proxy_buffering on, proxy_read_timeout 1s)', () => {
  let server: PushframeServer;
  let nginx: Nginx;
  const clients: { close(): void }[] = [];

  beforeAll(async () => {
    server = await startTestServer({ heartbeatMs: 300, pollTimeoutMs: 600 });
    nginx = await startNginx({ upstream: `127.0.0.1:${server.port}`, proxyReadTimeout: '1s' });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await nginx?.stop();
    await server?.close();
  });

  async function stream(base: string, channels: string): Promise<StreamClient> {
    const c = await StreamClient.open(`${base}/pushframe/stream?channels=${channels}`);
    clients.push(c);
    return c;
  }

  it('delivers the iframe stream unbuffered: every published message arrives within 500 ms', async () => {
    const c = await stream(nginx.url, 'nx/a');
    expect(c.status).toBe(200);
    await c.waitForFrame('o', 2000);
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = process.hrtime.bigint();
      await server.hub.publish('nx/a', { i });
      await c.waitForMessages(i + 1, 500);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await sleep(20);
    }
    expect(c.messages.map((m) => (m.data as { i: number }).i)).toEqual([...Array(20).keys()]);
    expect(Math.max(...latencies)).toBeLessThan(500);
  });

  it('keeps an idle stream open across 3 s (three proxy timeouts) with heartbeats, then delivers on it', async () => {
    const c = await stream(nginx.url, 'nx/idle');
    await c.waitForFrame('o', 2000);
    await sleep(3000);
    expect(c.ended).toBe(false);
    expect(c.frames.filter((f) => f.type === 'h').length).toBeGreaterThanOrEqual(5);
    const t0 = Date.now();
    const id = await server.hub.publish('nx/idle', 'after the lull');
    await c.waitForMessages(1, 500);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(c.messages).toEqual([{ channel: 'nx/idle', id, data: 'after the lull' }]);
    expect(c.ended).toBe(false);
  });

  it('passes server-sent events unbuffered too', async () => {
    const c = await SseClient.open(`${nginx.url}/pushframe/events?channels=nx/sse`);
    clients.push(c);
    await c.waitForEvent('ready', 2000);
    const t0 = Date.now();
    await server.hub.publish('nx/sse', 1);
    await c.waitForMessages(1, 500);
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('answers a held long-poll through the proxy when the poll timeout is below proxy_read_timeout', async () => {
    const first = (await (await fetch(`${nginx.url}/pushframe/poll?channels=nx/poll`)).json()) as { cursor: string };
    const pending = fetch(
      `${nginx.url}/pushframe/poll?channels=nx/poll&since=${encodeURIComponent(first.cursor)}`,
    ).then(async (r) => ({ status: r.status, json: (await r.json()) as { messages: unknown[] } }));
    await sleep(100);
    await server.hub.publish('nx/poll', 'held');
    const { status, json } = await pending;
    expect(status).toBe(200);
    expect(json.messages).toEqual([['nx/poll', expect.any(String), 'held']]);
    // Errors pass through as they are.
    const bad = await fetch(`${nginx.url}/pushframe/poll?channels=nx/poll&since=${encodeURIComponent(first.cursor)}x`);
    expect(bad.status).toBe(400);
  });

  describe('controls: the same proxy without what makes it work', () => {
    it('cuts an idle stream after proxy_read_timeout when heartbeats are rarer than it', async () => {
      const slow = await startTestServer({ heartbeatMs: 5000 });
      const proxy = await startNginx({ upstream: `127.0.0.1:${slow.port}`, proxyReadTimeout: '1s' });
      try {
        const c = await stream(proxy.url, 'ctl/idle');
        await c.waitForFrame('o', 2000);
        const t0 = Date.now();
        await c.waitForEnd(3000);
        expect(Date.now() - t0).toBeLessThan(2500);
        expect(proxy.errorLog()).toMatch(/upstream timed out/);
      } finally {
        await proxy.stop();
        await slow.close();
      }
    });

    // With `gzip on` (common in real configs) nginx compresses the stream; it flushes each
    // chunk only because the response says X-Accel-Buffering: no.
    it('with gzip on, flushes each chunk because of X-Accel-Buffering, and holds everything back when told to ignore it', async () => {
      const honoured = await startNginx({
        upstream: `127.0.0.1:${server.port}`,
        proxyReadTimeout: '10s',
        locationExtra: 'gzip on;',
      });
      const ignored = await startNginx({
        upstream: `127.0.0.1:${server.port}`,
        proxyReadTimeout: '10s',
        locationExtra: 'gzip on; proxy_ignore_headers X-Accel-Buffering;',
      });
      try {
        const a = await gzipReader(`${honoured.url}/pushframe/stream?channels=ctl/gz`);
        const b = await gzipReader(`${ignored.url}/pushframe/stream?channels=ctl/gz`);
        clients.push(a, b);
        await a.waitForText('<script>p.o(', 2000);
        expect(a.encoding).toBe('gzip');
        const t0 = Date.now();
        await server.hub.publish('ctl/gz', 'through gzip');
        await a.waitForText('through gzip', 500);
        expect(Date.now() - t0).toBeLessThan(500);
        await sleep(1000);
        expect(b.rawBytes).toBe(0);
      } finally {
        await honoured.stop();
        await ignored.stop();
      }
    });
  });
});

interface GzipReader {
  encoding: string | undefined;
  rawBytes: number;
  text: string;
  waitForText(needle: string, timeoutMs: number): Promise<void>;
  close(): void;
}

/**
 * Reads a (possibly gzip-encoded) response as it arrives, decompressing each flushed
 * block. Returns at once: a proxy that holds everything back does not even send headers.
 */
async function gzipReader(url: string): Promise<GzipReader> {
  const req = http.get(url, { agent: false, headers: { 'accept-encoding': 'gzip' } });
  const reader: GzipReader = {
    encoding: undefined,
    rawBytes: 0,
    text: '',
    async waitForText(needle, timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (!reader.text.includes(needle)) {
        if (Date.now() > end)
          throw new Error(`"${needle}" did not arrive in ${timeoutMs} ms (${reader.rawBytes} raw bytes so far)`);
        await sleep(5);
      }
    },
    close: () => req.destroy(),
  };
  req.on('error', () => undefined);
  req.on('response', (res) => {
    reader.encoding = res.headers['content-encoding'];
    res.on('data', (d: Buffer) => (reader.rawBytes += d.length));
    res.on('error', () => undefined);
    const body =
      reader.encoding === 'gzip' ? res.pipe(zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH })) : res;
    body.on('data', (d: Buffer) => (reader.text += d.toString('latin1')));
    body.on('error', () => undefined);
  });
  return reader;
}
