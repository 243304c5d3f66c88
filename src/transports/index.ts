export type { Sink } from './sink';
export { Tally, type DropReason } from './tally';
export { StreamConnection, type StreamFormat, type StreamOptions } from './stream';
export { foreverFrameFormat } from './iframe';
export { ConnectionRegistry } from './registry';
