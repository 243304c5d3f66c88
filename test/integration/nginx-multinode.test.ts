import type { PushframeServer } from '../../src';
import { publish, startTestServer } from '../helpers/server';
import { StreamClient } from '../helpers/stream-client';
import { startRedis, type TestRedis } from '../helpers/redis';
import { freePort } from '../helpers/ports';
import { startDocumentedNginx, type DocumentedNginx } from '../helpers/documented-nginx';

/**
 * The nginx example of docs/scaling.md, run as written (ports substituted) in front of two
 * nodes on one Redis: streams pass unbuffered, and a client whose node goes away resumes
 * through nginx on the other node.
 */

let redis: TestRedis;
let nginx: DocumentedNginx;
let base: string;
const nodes: PushframeServer[] = [];
const clients: StreamClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) nodes.push(await startTestServer({ broker: redis.url, heartbeatMs: 200 }));
  // Nothing listens on the doc's application port: this test goes through the pushframe location only.
  nginx = await startDocumentedNginx({ upstreams: [nodes[0].port, nodes[1].port], app: await freePort() });
  base = nginx.url;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await nginx?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  await redis?.stop();
});

async function open(query: string): Promise<StreamClient> {
  const c = await StreamClient.open(`${base}/pushframe/stream?${query}`);
  clients.push(c);
  return c;
}

test('through nginx: streams are unbuffered, and a client resumes on the other node when its node goes away', async () => {
  const first = await open('channels=via/*');
  await first.waitForFrame('o', 3000);
  // Which node holds the stream? The one whose stats count it.
  const counts = nodes.map((n) => n.stats().connections.total);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
  const holder = counts[0] === 1 ? 0 : 1;

  // Each message arrives on its own, promptly: nothing sits in a proxy buffer.
  for (let n = 0; n < 5; n++) {
    const started = Date.now();
    const r = await publish(nodes[1 - holder], 'via/x', JSON.stringify({ n }));
    expect(r.status).toBe(202);
    await first.waitForMessages(n + 1, 1000);
    expect(Date.now() - started).toBeLessThan(1000);
  }
  // Heartbeats pass too.
  const beats = first.frames.filter((f) => f.type === 'h').length;
  await first.waitFor((c) => c.frames.filter((f) => f.type === 'h').length > beats, 2000, 'a heartbeat through nginx');

  // The holding node goes away; publishing goes on elsewhere meanwhile.
  await nodes[holder].close();
  await first.waitForEnd(3000);
  for (let n = 5; n < 10; n++) expect((await publish(nodes[1 - holder], 'via/x', JSON.stringify({ n }))).status).toBe(202);
  // The reconnect goes through nginx, which has only the other node left.
  const second = await open(`channels=via/*&since=${encodeURIComponent(first.cursor)}`);
  await second.waitForMessages(5, 3000);
  expect(nodes[1 - holder].stats().connections.total).toBe(1);
  expect(second.frames.some((f) => f.type === 'x')).toBe(false);
  const all = [...first.messages, ...second.messages].map((m) => (m.data as { n: number }).n);
  expect(all).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
