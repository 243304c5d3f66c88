import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { clusterMetricsText, type MetricJson } from '../../src/cluster/metrics';

/** A worker's registry as the primary receives it (through IPC: plain JSON). */
async function workerRegistry(published: number, delaySeconds: number): Promise<MetricJson[]> {
  const registry = new Registry();
  const registers = [registry];
  new Counter({ name: 'pf_published_total', help: 'published', registers }).inc(published);
  new Histogram({ name: 'pf_duration_seconds', help: 'duration', labelNames: ['outcome'], buckets: [0.1, 1], registers }).observe({ outcome: 'ok' }, delaySeconds);
  // prom-client's own start-time metric says `omit` for cluster aggregation: here it is one worker's and stays.
  new Gauge({ name: 'pf_start_time_seconds', help: 'start', aggregator: 'omit', registers }).set(1000 + published);
  return JSON.parse(JSON.stringify(await registry.getMetricsAsJSON())) as MetricJson[];
}

test('every worker\'s series, labelled with its node, one family per metric; workers running and answered', async () => {
  const text = await clusterMetricsText(
    [
      { node: 'edge-w0', metrics: await workerRegistry(2, 0.05) },
      { node: 'edge-w1', metrics: await workerRegistry(5, 0.5) },
    ],
    3,
  );
  const lines = text.split('\n');
  expect(lines).toEqual(
    expect.arrayContaining([
      'pf_published_total{node="edge-w0"} 2',
      'pf_published_total{node="edge-w1"} 5',
      'pf_start_time_seconds{node="edge-w0"} 1002',
      'pf_start_time_seconds{node="edge-w1"} 1005',
      'pf_duration_seconds_bucket{le="0.1",outcome="ok",node="edge-w0"} 1',
      'pf_duration_seconds_bucket{le="0.1",outcome="ok",node="edge-w1"} 0',
      'pf_duration_seconds_count{outcome="ok",node="edge-w1"} 1',
      'pushframe_cluster_workers{state="running"} 3',
      'pushframe_cluster_workers{state="answered"} 2',
    ]),
  );
  expect(lines.filter((l) => l === '# TYPE pf_published_total counter')).toHaveLength(1);
  expect(lines.filter((l) => l === '# TYPE pf_duration_seconds histogram')).toHaveLength(1);
});
