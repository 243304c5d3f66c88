import { SYS_STATS_CHANNEL, type PushframeServer, type StatsSample } from '../../src';
import { openStream } from '../helpers/forever-frame';
import { startRedis, type TestRedis } from '../helpers/redis';
import { startTestServer } from '../helpers/server';

/**
 * Two nodes on one Redis, each publishing its figures: every node's own figures stay on
 * its own channel, and `_sys/stats` carries one cluster view (the sums and a line per
 * node) from one publisher, so a dashboard never alternates between two nodes' numbers.
 */

let redis: TestRedis;
const nodes: PushframeServer[] = [];

beforeAll(async () => {
  redis = await startRedis();
  nodes.push(await startTestServer({ broker: redis.url, statsIntervalMs: 100, nodeId: 'node-a' }));
  nodes.push(await startTestServer({ broker: redis.url, statsIntervalMs: 100, nodeId: 'node-b' }));
}, 20_000);

afterAll(async () => {
  for (const n of nodes) await n.close();
  await redis?.stop();
});

test('per-node channels, and one cluster view that sums them on _sys/stats', async () => {
  const base = (i: number): string => nodes[i].url + nodes[i].config.prefix;
  // Three viewers of the cluster view on node a, one of node b's own figures on node b.
  const cluster = await openStream(base(0), { channels: SYS_STATS_CHANNEL });
  const extra = [await openStream(base(0), { channels: 'x' }), await openStream(base(0), { channels: 'y' })];
  const own = await openStream(base(1), { channels: `${SYS_STATS_CHANNEL}/*` });
  try {
    const samples = (): StatsSample[] => cluster.messages().map((m) => m.data as StatsSample);
    const naming = (): StatsSample[] => samples().filter((s) => (s.nodes ?? []).length === 2);
    // Samples taken before node b counted its stream name both nodes too: wait for five,
    // the last taken once all four streams were open (node a holds 3, node b 1).
    await cluster.until(
      () => naming().length >= 5 && naming()[naming().length - 1].connections.total === 4,
      5000,
      'five cluster samples naming both nodes, the last with every stream',
    );
    const both = naming();
    for (const s of both) {
      expect(s.node).toBe('cluster');
      expect(s.nodes!.map((n) => n.node)).toEqual(['node-a', 'node-b']);
      // Sums: node a holds 3 streams, node b 1.
      expect(s.connections.total).toBe(s.nodes!.reduce((a, n) => a + n.connections, 0));
    }
    const last = both[both.length - 1];
    expect(last.nodes!.map((n) => n.connections)).toEqual([3, 1]);
    expect(last.connections.total).toBe(4);
    // One publisher: every message on _sys/stats was published once per interval, not twice.
    const ids = cluster.messages().map((m) => m.channel);
    expect(new Set(ids)).toEqual(new Set([SYS_STATS_CHANNEL]));
    const times = both.map((s) => s.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(50);

    // Each node's own figures on its own channel.
    await own.until(() => new Set(own.messages().map((m) => m.channel)).size >= 2, 3000, 'both nodes’ channels');
    const channels = new Set(own.messages().map((m) => m.channel));
    expect(channels).toEqual(new Set([`${SYS_STATS_CHANNEL}/node-a`, `${SYS_STATS_CHANNEL}/node-b`]));
    for (const m of own.messages()) expect(m.channel).toBe(`${SYS_STATS_CHANNEL}/${(m.data as StatsSample).node}`);
  } finally {
    cluster.close();
    own.close();
    for (const e of extra) e.close();
  }
});

test('when the publishing node leaves, the other takes over the cluster view', async () => {
  const base = nodes[1].url + nodes[1].config.prefix;
  const cluster = await openStream(base, { channels: SYS_STATS_CHANNEL });
  try {
    await nodes[0].close();
    const after = Date.now();
    await cluster.until(
      () => cluster.messages().some((m) => (m.data as StatsSample).at > after && (m.data as StatsSample).nodes?.length === 1),
      3000,
      'a cluster view from node b alone',
    );
    const s = cluster.messages().map((m) => m.data as StatsSample).filter((x) => x.at > after && x.nodes?.length === 1).pop()!;
    expect(s.nodes!.map((n) => n.node)).toEqual(['node-b']);
  } finally {
    cluster.close();
  }
});
