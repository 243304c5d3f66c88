import type { Config } from '../config';

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

export type ToWorker = { tag: typeof CLUSTER_TAG; start: WorkerStart } | { tag: typeof CLUSTER_TAG; shutdown: true };

export type ToPrimary =
  | { tag: typeof CLUSTER_TAG; ready: true }
  | { tag: typeof CLUSTER_TAG; listening: { url: string; port: number } }
  | { tag: typeof CLUSTER_TAG; failed: string };

export function isClusterMessage(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === CLUSTER_TAG;
}
