import http from 'node:http';
import { startServer, embedContext, type PushframeServer } from '../../src';
import { openStream, type StreamReader } from '../helpers/forever-frame';

/**
 * Keep-latest conflation: a client that was away, or whose socket is backed up, gets
 * only the newest message per key, not every intermediate one. Real server, real
 * sockets, real memory broker.
 */

function publish(base: string, channel: string, data: unknown, key?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(data);
    const req = http.request(
      `${base}/publish/${channel}${key === undefined ? '' : '?key=' + encodeURIComponent(key)}`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('keep-latest for a client that was away', () => {
  let server: PushframeServer;
  let base: string;
  const readers: StreamReader[] = [];

  beforeAll(async () => {
    server = await startServer({
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      statsIntervalMs: 0,
      demo: false,
      latestChannels: ['prices/*'],
    });
    base = server.url + server.config.prefix;
  });
  afterEach(() => {
    for (const r of readers.splice(0)) r.close();
  });
  afterAll(() => server.close());

  it('resuming with an old cursor replays only the latest value per key, and every unkeyed message', async () => {
    const { cursor } = await embedContext(server.hub, ['gauges/*', 'log']);
    for (let i = 0; i < 40; i++) {
      expect(await publish(base, 'gauges/cpu', { v: i }, 'value')).toBe(202);
      expect(await publish(base, 'gauges/mem', { v: 100 + i }, 'value')).toBe(202);
      if (i % 10 === 0) expect(await publish(base, 'log', { line: i })).toBe(202);
    }
    // Two keys on one channel are kept apart.
    await publish(base, 'gauges/disk', { v: 'a1' }, 'a');
    await publish(base, 'gauges/disk', { v: 'b1' }, 'b');
    await publish(base, 'gauges/disk', { v: 'a2' }, 'a');

    const r = await openStream(base, { channels: 'gauges/*,log', since: cursor });
    readers.push(r);
    await r.until(() => r.frames.some((f) => f.kind === 'o'), 5000, 'the open frame');
    await r.until(() => r.messages().length >= 7, 5000, 'the backlog');
    const got = r.messages();
    const byChannel = (c: string): unknown[] => got.filter((m) => m.channel === c).map((m) => m.data);
    expect(byChannel('gauges/cpu')).toEqual([{ v: 39 }]);
    expect(byChannel('gauges/mem')).toEqual([{ v: 139 }]);
    expect(byChannel('gauges/disk')).toEqual([{ v: 'b1' }, { v: 'a2' }]);
    expect(byChannel('log')).toEqual([{ line: 0 }, { line: 10 }, { line: 20 }, { line: 30 }]);
    expect(got).toHaveLength(8);
    // Ids stay in increasing order for the client: superseded ones are simply absent.
    const ids = got.filter((m) => m.channel.startsWith('gauges/')).map((m) => Number(m.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('a latestChannels pattern keys every message on its channels by the channel', async () => {
    const { cursor } = await embedContext(server.hub, ['prices/*', 'news/*']);
    for (let i = 0; i < 25; i++) {
      await publish(base, 'prices/aex', { p: 800 + i });
      await publish(base, 'news/aex', { n: i });
    }
    const r = await openStream(base, { channels: 'prices/*,news/*', since: cursor });
    readers.push(r);
    await r.until(() => r.messages().length >= 26, 5000, 'the backlog');
    const got = r.messages();
    expect(got.filter((m) => m.channel === 'prices/aex').map((m) => m.data)).toEqual([{ p: 824 }]);
    expect(got.filter((m) => m.channel === 'news/aex')).toHaveLength(25);
    expect(server.hub.isLatestChannel('prices/aex')).toBe(true);
    expect(server.hub.isLatestChannel('prices/aex/x')).toBe(false);
  });

  it('a cursor taken at render time loses nothing published before the page connects', async () => {
    const { cursor } = await embedContext(server.hub, ['feed']);
    for (let i = 0; i < 5; i++) await publish(base, 'feed', { i });
    const r = await openStream(base, { channels: 'feed', since: cursor });
    readers.push(r);
    await r.until(() => r.messages().length >= 5, 5000, 'five messages');
    await publish(base, 'feed', { i: 5 });
    await r.until(() => r.messages().length >= 6, 5000, 'the live message');
    expect(r.messages().map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 5].map((i) => ({ i })));
  });
});

describe('keep-latest on a backed-up socket', () => {
  // Enough unread bytes to fill the kernel's socket buffers on loopback (tcp_rmem can
  // autotune to 32 MiB) so that the server holds what follows.
  const FILLER_BYTES = 1024 * 1024;
  const FILLERS = 48;
  const GAUGES = 200;
  let server: PushframeServer;

  beforeAll(async () => {
    server = await startServer({
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      statsIntervalMs: 0,
      demo: false,
      maxMessageBytes: 2 * FILLER_BYTES,
      maxBufferedBytes: 512 * 1024 * 1024,
      maxStreamBytes: 1 << 30,
      historySize: 100,
    });
  });
  afterAll(() => server.close());

  it('holds only the newest value per key while the client does not read; a reading client gets every one', async () => {
    const base = server.url + server.config.prefix;
    const slow = await openStream(base, { channels: 'bulk,gauge' });
    const fast = await openStream(base, { channels: 'bulk,gauge' });
    try {
      await slow.until(() => slow.frames.some((f) => f.kind === 'o'), 5000, 'slow open');
      await fast.until(() => fast.frames.some((f) => f.kind === 'o'), 5000, 'fast open');
      slow.res.pause();

      const filler = 'x'.repeat(FILLER_BYTES - 16);
      for (let i = 0; i < FILLERS; i++) {
        await server.hub.publish('bulk', filler);
        await tick();
      }
      let lastId = '';
      for (let v = 0; v < GAUGES; v++) {
        lastId = await server.hub.publish('gauge', v, { key: 'level' });
        // A turn of the event loop between values: each one is flushed on its own to a
        // client that keeps up, so only the blocked client sees them conflated.
        await tick();
      }
      await fast.until(() => fast.messages().some((m) => m.id === lastId), 10_000, 'the last gauge on the fast client');
      slow.res.resume();
      await slow.until(() => slow.messages().some((m) => m.id === lastId), 20_000, 'the last gauge on the slow client');

      const gauges = (r: typeof slow): unknown[] => r.messages().filter((m) => m.channel === 'gauge').map((m) => m.data);
      expect(gauges(fast)).toEqual(Array.from({ length: GAUGES }, (_, v) => v));
      // The fillers backed the socket up before the first value: only the newest is sent.
      expect(gauges(slow)).toEqual([GAUGES - 1]);
      // Unkeyed messages are never dropped: every filler arrived.
      expect(slow.messages().filter((m) => m.channel === 'bulk')).toHaveLength(FILLERS);
    } finally {
      slow.close();
      fast.close();
    }
  });
});
