export type { Backlog, Broker, BrokerStatus, HistoryLimits, PublishOptions } from './broker';
export { BrokerUnavailableError } from './broker';
export { MemoryBroker, conflate } from './memory';
export { RedisBroker, createRedisBroker, type RedisBrokerOptions, type BrokerLogger } from './redis';
