import Redis from 'ioredis';
import { BrokerUnavailableError, type HistoryLimits } from '../../src/brokers';
import { RedisBroker, createRedisBroker, type BrokerLogger } from '../../src/brokers/redis';
import { Collector, cursorAt, sleep } from '../contract/broker-contract';
import { startRedis, type TestRedis } from '../helpers/redis';
import { Client } from '../contract/hub-contract';
import { Hub } from '../../src/hub';

/** What only the Redis broker has: outages, foreign writers, namespaces, sweeping. */

const LIMITS: HistoryLimits = { maxCount: 100, maxAgeMs: 60_000 };

class CapturingLogger implements BrokerLogger {
  readonly lines: { level: string; obj: object; msg?: string }[] = [];
  info(obj: object, msg?: string): void {
    this.lines.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg?: string): void {
    this.lines.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg?: string): void {
    this.lines.push({ level: 'error', obj, msg });
  }
  count(level: string, msg: string): number {
    return this.lines.filter((l) => l.level === level && l.msg === msg).length;
  }
}

async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

describe('redis broker', () => {
  let redis: TestRedis;
  let admin: Redis;
  const brokers: RedisBroker[] = [];
  let n = 0;
  const make = async (options: Partial<Parameters<typeof createRedisBroker>[1]> & { namespace?: string } = {}) => {
    const b = await createRedisBroker(redis.url, { limits: LIMITS, namespace: `r${++n}:`, reconnectMaxDelayMs: 200, ...options });
    brokers.push(b);
    return b;
  };

  beforeAll(async () => {
    redis = await startRedis();
    // Queues while Redis restarts and retries quickly: a test tool, not the broker.
    admin = new Redis(redis.url, { retryStrategy: () => 50 });
    admin.on('error', () => {});
  });
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  test('an unreachable Redis fails creation with a clear error', async () => {
    const dead = `redis://127.0.0.1:${redis.port + 0}`;
    await redis.kill();
    try {
      const started = Date.now();
      await expect(createRedisBroker(dead, { limits: LIMITS }, 500)).rejects.toThrow(/Redis is not reachable \(.*ECONNREFUSED.*\) after 500 ms/);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await redis.start();
    }
  });

  test('Redis restart: publish fails fast, status says why, subscriptions and delivery come back', async () => {
    const log = new CapturingLogger();
    const a = await make({ logger: log, namespace: 'restart:' });
    const b = await make({ namespace: 'restart:' });
    const c = new Collector();
    a.setSink(c.sink);
    a.watch('live/*');
    a.watch('exact');
    await a.position();
    const epoch = await a.epoch();
    await b.publish('live/1', '1');
    await c.until(() => c.got.length === 1, 'delivery before the outage');

    await redis.kill();
    // Each of a broker's two connections notices the outage on its own socket's close,
    // in either order: wait for both of a's.
    const down = (): string => a.status().detail ?? '';
    await until(() => !b.status().ready && /command connection/.test(down()) && /subscriber connection/.test(down()), 'status to notice the outage');
    const started = Date.now();
    await expect(b.publish('live/1', '2')).rejects.toBeInstanceOf(BrokerUnavailableError);
    await expect(a.position()).rejects.toBeInstanceOf(BrokerUnavailableError);
    await expect(a.history('live/*', cursorAt(epoch, '0'))).rejects.toBeInstanceOf(BrokerUnavailableError);
    expect(Date.now() - started).toBeLessThan(500);
    expect(a.status()).toMatchObject({ kind: 'redis', ready: false });
    expect(a.status().detail).toMatch(/command connection (reconnecting|connecting|close)/);
    // Interest may change while Redis is away; it is honoured when Redis returns.
    a.unwatch('exact');
    a.watch('later');
    await sleep(500); // several reconnect attempts
    expect(log.count('error', 'redis connection error')).toBeLessThanOrEqual(2);

    await redis.start();
    await until(() => a.status().ready && b.status().ready, 'status to recover');
    // Redis came back empty: a new epoch, and status says history was lost.
    await until(() => /lost its data/.test(a.status().detail ?? ''), 'the data-loss note');
    expect(await a.epoch()).not.toBe(epoch);
    const subscribers = async (channel: string) => ((await admin.pubsub('NUMSUB', channel)) as [string, number])[1];
    await until(async () => Number(await admin.pubsub('NUMPAT')) === 1 && (await subscribers('restart:m:later')) === 1, 'resubscription');
    expect(await subscribers('restart:m:exact')).toBe(0);
    await b.publish('live/2', '3');
    await b.publish('later', '4');
    await b.publish('exact', '5');
    await c.until(() => c.got.length === 3, 'delivery after the outage');
    await sleep(100);
    expect(c.got.map((m) => m.json)).toEqual(['1', '3', '4']);
    expect(log.count('info', 'redis connection restored')).toBeGreaterThanOrEqual(1);
  });

  test('malformed or unsafe pub/sub payloads are dropped and logged, good ones still flow', async () => {
    const log = new CapturingLogger();
    const a = await make({ logger: log, namespace: 'foreign:' });
    const c = new Collector();
    a.setSink(c.sink);
    a.watch('f/**');
    await a.position();
    const bad = [
      'garbage',
      '1 1-1 f/x - </script><script>alert(1)</script>',
      '1 1-1 f/x - 1);alert(1);(1',
      '2 1-1 f/x - 1',
      '1 1-1 ../x - 1',
      '1 x-1 f/x - 1',
      '1 1-1 f/x 99 k1',
      '1 1-1 f/x - "\u2028"',
    ];
    for (const p of bad) await admin.publish('foreign:m:f/x', p);
    await a.publish('f/x', '{"ok":true}', { key: 'a b' });
    await c.until(() => c.got.length >= 1, 'the good message');
    await sleep(50);
    expect(c.got.map((m) => [m.json, m.key])).toEqual([['{"ok":true}', 'a b']]);
    expect(log.count('warn', 'malformed pub/sub payload from Redis dropped')).toBe(1);
    // Foreign stream entries are dropped from history the same way.
    await admin.xadd('foreign:s:f/x', '*', 'j', '</script>');
    const h = await a.history('f/x', cursorAt(await a.epoch(), '0'));
    expect(h.messages.map((m) => m.json)).toEqual(['{"ok":true}']);
  });

  test('glob characters in the namespace are escaped: namespaces do not leak into each other', async () => {
    const star = await make({ namespace: 'ns*:' });
    const other = await make({ namespace: 'ns1:' });
    const c = new Collector();
    star.setSink(c.sink);
    star.watch('**');
    await star.position();
    await other.publish('leak', '"other"');
    await star.publish('mine', '"mine"');
    await c.until(() => c.got.length >= 1, 'own message');
    await sleep(100);
    expect(c.got.map((m) => m.json)).toEqual(['"mine"']);
    const h = await star.history('**', cursorAt(await star.epoch(), '0'));
    expect(h.messages.map((m) => m.channel)).toEqual(['mine']);
  });

  test('idle channels are swept whole; cursors that missed them get a reset', async () => {
    const a = await make({ namespace: 'sweep:', limits: { maxCount: 10, maxAgeMs: 1000 }, sweepIntervalMs: 200 });
    const epoch = await a.epoch();
    const before = await a.position();
    const last = await a.publish('idle/x', '1');
    await until(async () => (await admin.exists('sweep:s:idle/x')) === 0, 'the sweep', 4000);
    expect(await admin.zcard('sweep:names')).toBe(0);
    expect(await admin.zcard('sweep:recent')).toBe(0);
    expect(await admin.get('sweep:forgotten')).toBe(last);
    await until(() => a.status().channels === 0, 'the channel count');
    expect(await a.history('idle/x', cursorAt(epoch, before))).toEqual({ messages: [], resets: ['idle/x'] });
    expect(await a.history('idle/*', cursorAt(epoch, before))).toEqual({ messages: [], resets: ['idle/*'] });
    // A client that saw the last message lost nothing.
    expect(await a.history('idle/x', cursorAt(epoch, last))).toEqual({ messages: [], resets: [] });
  });

  test('a dropped subscriber connection: what was published meanwhile is replayed, once, in order', async () => {
    const log = new CapturingLogger();
    const limits = { maxCount: 10_000, maxAgeMs: 60_000 };
    const pub = await make({ namespace: 'drop:', limits });
    const node = await make({ namespace: 'drop:', limits, logger: log, probeIntervalMs: 50 });
    const hub = new Hub(node, { maxMessageBytes: 1024 });
    const client = new Client();
    await hub.subscribe(client.session(), ['g/*'], undefined);
    let stop = false;
    let published = 0;
    const publisher = (async () => {
      for (let n = 0; n < 5000 && !stop; n++) {
        await Promise.all([pub.publish('g/1', JSON.stringify({ n })), pub.publish('g/2', JSON.stringify({ n }))]);
        published = n + 1;
        if (n % 20 === 0) await sleep(1);
      }
    })();
    // Drop the subscriber connection (Redis itself stays up) three times mid-stream.
    let kills = 0;
    const state = async () =>
      `${JSON.stringify(log.lines)} got ${client.values('g/1').length} of ${published}; ${node.status().detail}; patterns ${await admin.pubsub('NUMPAT')}`;
    const wait = (pred: () => boolean, what: string) => until(pred, what).catch(async (e) => Promise.reject(new Error(`${e}: ${await state()}`)));
    for (let round = 0; round < 3; round++) {
      const seen = published;
      await wait(() => published > seen + 30 && node.status().ready, 'publishing with the node connected');
      kills += Number(await admin.client('KILL', 'TYPE', 'pubsub'));
      await wait(() => !node.status().ready || log.count('info', 'redis connection restored') > round, 'the drop to be seen');
    }
    await wait(() => log.count('info', 'replayed what the redis subscriber missed while away') >= 3, 'three replays');
    await sleep(20);
    stop = true;
    await publisher;
    const last = published - 1;
    await wait(() => ['g/1', 'g/2'].every((ch) => client.values(ch).slice(-1)[0] === last), 'the last messages');
    await sleep(100);
    expect(kills).toBe(3);
    const all = Array.from({ length: published }, (_, i) => i);
    expect(client.values('g/1')).toEqual(all);
    expect(client.values('g/2')).toEqual(all);
    expect(log.lines.filter((l) => l.level === 'error' && /replay|no longer/.test(l.msg ?? ''))).toEqual([]);
  });

  test('cursor ids beyond what Redis can hold find nothing and fail nothing', async () => {
    const a = await make();
    const epoch = await a.epoch();
    await a.publish('big', '1');
    for (const id of ['18446744073709551615-18446744073709551615', '99999999999999999999']) {
      expect(await a.history('big', cursorAt(epoch, id))).toEqual({ messages: [], resets: [] });
      expect(await a.history('*', cursorAt(epoch, id))).toEqual({ messages: [], resets: [] });
    }
    // A sequence out of range in an early millisecond: later messages are still newer.
    expect((await a.history('big', cursorAt(epoch, '1-99999999999999999999'))).messages.map((m) => m.json)).toEqual(['1']);
  });

  test('wildcard replay looks only at channels published on since the cursor when they are fewer', async () => {
    const a = await make();
    const epoch = await a.epoch();
    for (let i = 0; i < 30; i++) await a.publish(`many/${i}`, String(i));
    await sleep(5);
    const p = await a.position();
    await a.publish('many/3', '"again 3"');
    await a.publish('many/7/deep', '"deep"');
    await a.publish('many/7', '"again 7"');
    const recent = await a.history('many/*', cursorAt(epoch, p));
    expect(recent).toEqual({ messages: [expect.objectContaining({ json: '"again 3"' }), expect.objectContaining({ json: '"again 7"' })], resets: [] });
    const all = await a.history('many/**', cursorAt(epoch, '0'));
    expect(all.messages).toHaveLength(33);
  });

  test('history is bounded in Redis: exact count trimming', async () => {
    const a = await make({ namespace: 'count:', limits: { maxCount: 5, maxAgeMs: 60_000 } });
    for (let i = 0; i < 20; i++) await a.publish('c', String(i));
    expect(await admin.xlen('count:s:c')).toBe(5);
  });
});
