import type { OpenInfo } from '../hub';
import {
  HEARTBEAT_FRAME,
  checkpointFrame,
  encodedAs,
  errorFrame,
  messageArgs,
  messageTextArgs,
  messagesFrame,
  needsTextData,
  openFrame,
  reconnectFrame,
  resetFrame,
  see,
  textMessagesFrame,
  type Cursor,
  type Message,
} from '../protocol';
import type { StreamFormat } from './stream';

/** `p.m` arguments, or `p.j` arguments for data the page must parse itself. */
const argsOf = (msg: Message, text: boolean): string =>
  text ? encodedAs(msg, 'textArgs', messageTextArgs) : encodedAs(msg, 'args', messageArgs);

/** Consecutive messages of one kind share one call; order is kept across kinds. */
function framesOf(msgs: readonly Message[]): string {
  let out = '';
  let run = '';
  let text = false;
  for (let i = 0; i < msgs.length; i++) {
    const isText = needsTextData(msgs[i]);
    const args = argsOf(msgs[i], isText);
    if (run !== '' && isText !== text) {
      out += text ? textMessagesFrame(run) : messagesFrame(run);
      run = '';
    }
    text = isText;
    run += (run === '' ? '' : ',') + args;
  }
  if (run !== '') out += text ? textMessagesFrame(run) : messagesFrame(run);
  return out;
}

const frameOf = (msg: Message): string => framesOf([msg]);

/**
 * The forever-frame format (docs/protocol.md), shared by the `iframe` and `htmlfile`
 * transports: both stream the same bytes, only the page-side host differs.
 */
export function foreverFrameFormat(name: 'iframe' | 'htmlfile', heartbeatMs: number): StreamFormat {
  return {
    name,
    open(info: OpenInfo, token?: string): string {
      const out = openFrame(info.cursor, heartbeatMs, token);
      return info.resets.length > 0 ? out + resetFrame(info.resets) : out;
    },
    // Both forever-frame transports share one cache entry: the bytes are the same.
    message(msg: Message, cursor: Cursor): string {
      see(cursor, msg.channel, msg.id);
      return encodedAs(msg, 'frame', frameOf);
    },
    batch(msgs: readonly Message[], cursor: Cursor): string {
      for (let i = 0; i < msgs.length; i++) see(cursor, msgs[i].channel, msgs[i].id);
      return framesOf(msgs);
    },
    checkpoint: checkpointFrame,
    heartbeat: HEARTBEAT_FRAME,
    reconnect: reconnectFrame,
    error: errorFrame,
  };
}
