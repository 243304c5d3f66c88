export type { Sink } from './sink';
export { Tally, type DropReason } from './tally';
export { StreamConnection, type StreamFormat, type StreamOptions } from './stream';
export { foreverFrameFormat } from './iframe';
export { ConnectionRegistry, type Connection } from './registry';
export { ChunkedSocketSink } from './chunked';
export { destroyReleased, keepOnRelease } from './takeover';
export { LongPoll, pollBody, type PollAnswer, type PollOptions } from './poll';
export { sseFormat, ssePreamble, sseRefusal, SSE_GIVE_UP_MS, SSE_RETRY_MS } from './sse';
