import type { OpenInfo } from '../hub';
import { advance, encodedAs, formatCursor, parseCursor, scriptJson, type Cursor, type Message } from '../protocol';
import type { StreamFormat } from './stream';

/**
 * Server-sent events (`text/event-stream`), for EventSource and non-browser clients:
 *
 *   retry: <ms>                         how long EventSource waits before reconnecting
 *   event: ready / id: <cursor> / data: {"cursor":"…","heartbeatMs":N}
 *   event: reset / data: ["ch",…]       history cannot cover the gap: reload these
 *   id: <cursor> / data: {"channel":"…","id":"…","data":…}   one event per message
 *   event: checkpoint / id: <cursor> / data: {"cursor":"…"}   after a resume's resets and
 *                                       backlog: a compact cursor covering them
 *   :                                   heartbeat (a comment)
 *   retry: <ms> / event: reconnect / data: <ms>              planned end (recycle, shutdown)
 *   event: fail / data: {"code":"…","message":"…"}           then the stream ends
 *
 * Every `id:` is the connection's cursor after that event, so `Last-Event-ID` is a full
 * resume cursor. Event names avoid `open`, `message` and `error`, which EventSource
 * already uses for its own events.
 */

/** Reconnect delay EventSource uses after a dropped connection (its own default is ~3 s). */
export const SSE_RETRY_MS = 2000;

/**
 * Comment padding sent first: EventSource polyfills in old IE and Edge read the stream
 * over XHR, which reports no progress before 2 KiB (shared/research/browser-protocol.md §1).
 */
export const SSE_PADDING_BYTES = 2048;

/** The first bytes of every SSE response: the retry delay and the padding comment. */
export function ssePreamble(): string {
  return 'retry: ' + SSE_RETRY_MS + '\n:' + ' '.repeat(SSE_PADDING_BYTES) + '\n\n';
}

/** The part of a message event every connection shares; the `id:` line precedes it. */
const dataOf = (msg: Message): string =>
  'data: {"channel":"' + msg.channel + '","id":"' + msg.id + '","data":' + msg.json + '}\n\n';

/**
 * One SSE format per connection: it tracks the connection's cursor to write `id:` lines.
 * The data line is cached on the message and shared by all connections; the cursor is
 * formatted per message so a break between two events of one batch loses nothing and
 * repeats nothing.
 */
export function sseFormat(heartbeatMs: number): StreamFormat {
  let cursor: Cursor | null = null;

  const event = (msg: Message): string => {
    const c = cursor as Cursor;
    advance(c, msg.channel, msg.id);
    return 'id: ' + formatCursor(c) + '\n' + encodedAs(msg, 'sse', dataOf);
  };
  const batch = (msgs: readonly Message[]): string => {
    let out = '';
    for (let i = 0; i < msgs.length; i++) out += event(msgs[i]);
    return out;
  };

  return {
    name: 'sse',
    open(info: OpenInfo): string {
      cursor = parseCursor(info.cursor);
      let out = 'retry: ' + SSE_RETRY_MS + '\nevent: ready\nid: ' + info.cursor + '\n';
      out += 'data: {"cursor":"' + info.cursor + '","heartbeatMs":' + heartbeatMs + '}\n\n';
      if (info.resets.length > 0) out += 'event: reset\ndata: ["' + info.resets.join('","') + '"]\n\n';
      return out;
    },
    checkpoint(checkpoint: string): string {
      // Until here a cut resumes from the client's own cursor plus what it received
      // (repeating a reset rather than losing it); from here the compact cursor.
      cursor = parseCursor(checkpoint);
      return 'event: checkpoint\nid: ' + checkpoint + '\ndata: {"cursor":"' + checkpoint + '"}\n\n';
    },
    message: event,
    batch,
    heartbeat: ':\n\n',
    // EventSource itself reconnects after `retry` once the stream ends; the event tells
    // the bridge (which reconnects on its own, with its cursor) that this end is planned.
    reconnect: (delayMs) => {
      const ms = Math.max(0, Math.round(delayMs));
      return 'retry: ' + ms + '\nevent: reconnect\ndata: ' + ms + '\n\n';
    },
    error: (code, message) =>
      'event: fail\ndata: {"code":' + scriptJson(code) + ',"message":' + scriptJson(message) + '}\n\n',
  };
}
