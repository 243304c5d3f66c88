import type { OpenInfo } from '../hub';
import {
  HEARTBEAT_FRAME,
  checkpointFrame,
  encodedAs,
  errorFrame,
  messageArgs,
  messagesFrame,
  openFrame,
  reconnectFrame,
  resetFrame,
  type Message,
} from '../protocol';
import type { StreamFormat } from './stream';

const argsOf = (msg: Message): string => encodedAs(msg, 'args', messageArgs);
const frameOf = (msg: Message): string => messagesFrame(argsOf(msg));

function batchArgs(msgs: readonly Message[]): string {
  let args = argsOf(msgs[0]);
  for (let i = 1; i < msgs.length; i++) args += ',' + argsOf(msgs[i]);
  return args;
}

/**
 * The forever-frame format (docs/protocol.md), shared by the `iframe` and `htmlfile`
 * transports: both stream the same bytes, only the page-side host differs.
 */
export function foreverFrameFormat(name: 'iframe' | 'htmlfile', heartbeatMs: number): StreamFormat {
  return {
    name,
    open(info: OpenInfo): string {
      const out = openFrame(info.cursor, heartbeatMs);
      return info.resets.length > 0 ? out + resetFrame(info.resets) : out;
    },
    checkpoint: checkpointFrame,
    // Both forever-frame transports share one cache entry: the bytes are the same.
    message: (msg) => encodedAs(msg, 'frame', frameOf),
    batch: (msgs) => messagesFrame(batchArgs(msgs)),
    heartbeat: HEARTBEAT_FRAME,
    reconnect: reconnectFrame,
    error: errorFrame,
  };
}
