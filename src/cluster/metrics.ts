import { AggregatorRegistry } from 'prom-client';

/** One series of a registry as `getMetricsAsJSON` gives it: plain data, so it crosses IPC. */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/** What one worker's registry held when the primary asked, under the worker's node name. */
export interface WorkerMetrics {
  node: string;
  metrics: MetricJson[];
}

/**
 * The cluster's `GET /metrics`: every worker's series, each labelled with `node` (the
 * worker's name, as in `/stats` and `_sys/stats/<node>`), so a scrape through the shared
 * port sees the whole machine whichever worker takes it. Nothing is summed here; that is
 * Prometheus's to do, over `node`. `pushframe_cluster_workers` says how
 * many workers were `running` when asked and how many `answered` this scrape.
 */
export function clusterMetricsText(workers: readonly WorkerMetrics[], running: number): Promise<string> {
  const labelled: MetricJson[][] = workers.map(({ node, metrics }) =>
    metrics.map((m) => ({
      ...m,
      // Every series is one worker's: each merges with no other, whatever its own aggregator says.
      aggregator: 'sum',
      values: m.values.map((v) => ({ ...v, labels: { ...v.labels, node } })),
    })),
  );
  labelled.push([
    {
      name: 'pushframe_cluster_workers',
      help: 'Workers of this cluster: running, and answered (those whose series this scrape holds).',
      type: 'gauge',
      aggregator: 'sum',
      values: [
        { labels: { state: 'running' }, value: running },
        { labels: { state: 'answered' }, value: workers.length },
      ],
    },
  ]);
  return AggregatorRegistry.aggregate(labelled).metrics();
}
