import type { Config } from '../config';
import type { MetricJson } from './metrics';

/** Control messages between the cluster's primary and its workers (the broker's travel apart, see brokers/ipc). */
export const CLUSTER_TAG = 'pushframe:cluster';

export interface WorkerStart {
  /** The validated settings, the same for every worker. */
  config: Config;
  /** This worker's slot: a replacement takes the slot (and name) of the worker it replaces. */
  index: number;
  /** Its name in `_sys/stats/<node>`. */
  nodeId: string;
  /** Use the primary's broker over IPC (memory broker) rather than the one `config.broker` names. */
  ipcBroker: boolean;
}

/** The cluster's metrics text for the worker's `metricsWanted` request `id`, or why there is none. */
export type MetricsAnswer = { id: number; text: string } | { id: number; error: string };

export type ToWorker =
  | { tag: typeof CLUSTER_TAG; start: WorkerStart }
  | { tag: typeof CLUSTER_TAG; shutdown: true }
  /** The primary gathers every worker's metrics: this worker's, for collection `id`. */
  | { tag: typeof CLUSTER_TAG; collectMetrics: number }
  | { tag: typeof CLUSTER_TAG; metricsText: MetricsAnswer };

export type ToPrimary =
  | { tag: typeof CLUSTER_TAG; ready: true }
  | { tag: typeof CLUSTER_TAG; listening: { url: string; port: number } }
  | { tag: typeof CLUSTER_TAG; failed: string }
  /** A scrape of `GET /metrics` reached this worker: the cluster's, please (request `id`). */
  | { tag: typeof CLUSTER_TAG; metricsWanted: number }
  /** This worker's registry for collection `id`; null while it has no server (starting, stopping). */
  | { tag: typeof CLUSTER_TAG; metrics: { id: number; json: MetricJson[] | null } };

export function isClusterMessage(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === CLUSTER_TAG;
}
