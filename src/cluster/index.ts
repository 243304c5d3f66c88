export { WorkerStartError, startCluster, workerCount, type ClusterOptions, type PushframeCluster } from './primary';
