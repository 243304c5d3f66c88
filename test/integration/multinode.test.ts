import type { PushframeServer } from '../../src';
import { publish, startTestServer } from '../helpers/server';
import { StreamClient } from '../helpers/stream-client';
import { startRedis, type TestRedis } from '../helpers/redis';

/** Two pushframe nodes on one Redis, as behind a load balancer: raw sockets, real Redis. */

let redis: TestRedis;
const servers: PushframeServer[] = [];
const clients: StreamClient[] = [];

async function node(): Promise<PushframeServer> {
  const s = await startTestServer({ broker: redis.url, heartbeatMs: 200 });
  servers.push(s);
  return s;
}

async function open(s: PushframeServer, query: string): Promise<StreamClient> {
  const c = await StreamClient.open(`${s.url}/pushframe/stream?${query}`);
  clients.push(c);
  return c;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  while (clients.length) clients.pop()!.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await redis?.stop();
});

test('a client on node B receives what is published on node A', async () => {
  const a = await node();
  const b = await node();
  const c = await open(b, 'channels=news/*');
  await c.waitForFrame('o');
  const r = await publish(a, 'news/eu', '{"headline":"<b>hi</b>"}');
  expect(r.status).toBe(202);
  expect(r.json.id).toMatch(/^\d+-\d+$/);
  await c.waitForMessages(1);
  expect(c.messages).toEqual([{ channel: 'news/eu', id: r.json.id, data: { headline: '<b>hi</b>' } }]);
  expect(c.body).toContain('\\u003cb\\u003ehi');
});

test('a client moves from node B to node A mid-stream and resumes: every message once, in order', async () => {
  const a = await node();
  const b = await node();
  const N = 300;
  const first = await open(b, 'channels=seq/*');
  await first.waitForFrame('o');

  // Published on A without pause for the whole test, the move included.
  let published = 0;
  const publisher = (async () => {
    for (let n = 0; n < N; n++) {
      const r = await publish(a, n % 2 ? 'seq/odd' : 'seq/even', JSON.stringify({ n }));
      if (r.status !== 202) throw new Error(`publish ${n} answered ${r.status}`);
      published++;
    }
  })();

  await first.waitFor((c) => c.messages.length >= 80, 8000, '80 messages on node B');
  await b.close(); // node B goes away; its clients reconnect elsewhere
  await first.waitForEnd();
  const movedAt = published;
  const second = await open(a, `channels=seq/*&since=${encodeURIComponent(first.cursor)}`);
  await publisher;
  await second.waitFor((c) => c.messages.some((m) => (m.data as { n: number }).n === N - 1), 8000, 'the last message');
  await sleep(100);

  expect(movedAt).toBeLessThan(N); // the move happened while publishing went on
  expect(second.frames.filter((f) => f.type === 'x')).toEqual([]);
  const all = [...first.messages, ...second.messages].map((m) => (m.data as { n: number }).n);
  expect(all.sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));
  // Per channel, in publish order on each node's stream.
  for (const client of [first, second]) {
    for (const ch of ['seq/odd', 'seq/even']) {
      const ns = client.messages.filter((m) => m.channel === ch).map((m) => (m.data as { n: number }).n);
      expect(ns).toEqual([...ns].sort((x, y) => x - y));
    }
  }
});

test('Redis restarts under connected clients: 503 while down, streams stay open, then recovery', async () => {
  const a = await node();
  const b = await node();
  const ca = await open(a, 'channels=fault');
  const cb = await open(b, 'channels=fault');
  await Promise.all([ca.waitForFrame('o'), cb.waitForFrame('o')]);
  expect((await publish(a, 'fault', '1')).status).toBe(202);
  await Promise.all([ca.waitForMessages(1), cb.waitForMessages(1)]);

  await redis.kill();
  await until(async () => (await fetch(`${a.url}/healthz`)).status === 503, 'healthz to report the outage');
  const down = await publish(a, 'fault', '2');
  expect(down.status).toBe(503);
  expect(down.json.error.code).toBe('broker_unavailable');
  const health = (await (await fetch(`${b.url}/healthz`)).json()) as { status: string; broker: { ready: boolean; detail: string } };
  expect(health).toMatchObject({ status: 'degraded', broker: { ready: false } });
  expect(health.broker.detail).toMatch(/connection/);
  // Streams stay open and keep beating.
  const beats = cb.frames.filter((f) => f.type === 'h').length;
  await cb.waitFor((c) => c.frames.filter((f) => f.type === 'h').length > beats, 2000, 'a heartbeat during the outage');
  expect(ca.ended || cb.ended).toBe(false);

  await redis.start();
  await until(async () => (await fetch(`${a.url}/healthz`)).status === 200 && (await fetch(`${b.url}/healthz`)).status === 200, 'recovery');
  const stats = (await (await fetch(`${a.url}/pushframe/stats`)).json()) as { broker: { detail: string } };
  expect(stats.broker.detail).toMatch(/recovered/);
  // Redis came back empty (no persistence): a new epoch, and the status says so.
  await until(
    async () => /lost its data/.test(((await (await fetch(`${b.url}/pushframe/stats`)).json()) as { broker: { detail: string } }).broker.detail),
    'the data-loss note',
  );
  // New publishes reach the streams that stayed open, on both nodes.
  const r = await publish(b, 'fault', '3');
  expect(r.status).toBe(202);
  await Promise.all([ca.waitForMessages(2), cb.waitForMessages(2)]);
  expect(ca.messages.map((m) => m.data)).toEqual([1, 3]);
  expect(cb.messages.map((m) => m.data)).toEqual([1, 3]);
  // A client resuming with a cursor from before the loss is told to reload.
  const again = await open(a, `channels=fault&since=${encodeURIComponent(cb.cursor)}`);
  await again.waitForFrame('x');
  expect(again.frames.find((f) => f.type === 'x')?.args).toEqual(['fault']);
});
