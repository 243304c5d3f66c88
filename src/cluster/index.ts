export { startCluster, workerCount, type ClusterOptions, type PushframeCluster } from './primary';
