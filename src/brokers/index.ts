export type { Backlog, Broker, BrokerStatus, HistoryLimits, PublishOptions } from './broker';
export { BrokerUnavailableError } from './broker';
export { MemoryBroker, conflate } from './memory';
export type { RedisBroker, RedisBrokerOptions, BrokerLogger } from './redis';

type CreateRedisBroker = typeof import('./redis').createRedisBroker;

/**
 * Creates a Redis broker (see ./redis). The Redis client is loaded on first use: a
 * server on the memory broker never loads it (about 17 MiB of RSS).
 */
export async function createRedisBroker(...args: Parameters<CreateRedisBroker>): ReturnType<CreateRedisBroker> {
  const redis = await import('./redis');
  return redis.createRedisBroker(...args);
}
