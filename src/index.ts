export { startServer, createBroker, type PushframeServer, type StartOptions } from './server';
export { resolveConfig, DEFAULTS, ConfigError, type Config } from './config';
export { Hub, type Subscriber, type OpenInfo } from './hub';
export { MemoryBroker, type Broker } from './brokers';
export { PushframeError, ERRORS, type ErrorCode } from './errors';
export { PROTOCOL_VERSION } from './protocol';
export { embedContext, viewsPath, usePushframeViews, addPushframeFilters, type EmbedContext } from './http/embed';
export { SYS_STATS_CHANNEL, SYS_STATS_KEY, type StatsSample } from './sysstats';
export type { SetupContext } from './server';
