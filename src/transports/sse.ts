import type { OpenInfo } from '../hub';
import { CHECKPOINT_ENTRIES, encodedAs, formatCursor, scriptJson, see, type Cursor, type Message } from '../protocol';
import type { StreamFormat } from './stream';

/**
 * Server-sent events (`text/event-stream`), for EventSource and non-browser clients:
 *
 *   retry: <ms>                         how long EventSource waits before reconnecting
 *   event: ready / id: <cursor> / data: {"cursor":"…","heartbeatMs":N}
 *   event: reset / data: ["ch",…]       history cannot cover the gap: reload these
 *   id: <cursor> / data: {"channel":"…","id":"…","data":…}   one event per message
 *   event: checkpoint / id: <cursor> / data: {"cursor":"…"}   a compact cursor covering
 *                                       everything so far (after a resume's resets and
 *                                       backlog, and whenever the cursor would grow)
 *   event: heartbeat / data: {}         after heartbeatMs of silence: an event, not a
 *                                       comment, so that a page's script sees it and its
 *                                       watchdog can tell a live stream from a dead path
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

/** Largest cursor (in channels) an `id:` line of a resume's backlog carries. */
const BACKLOG_ID_ENTRIES = 4 * CHECKPOINT_ENTRIES;

/** The part of a message event every connection shares; the `id:` line precedes it. */
const dataOf = (msg: Message): string =>
  'data: {"channel":"' + msg.channel + '","id":"' + msg.id + '","data":' + msg.json + '}\n\n';

const checkpointEvent = (cursor: string): string =>
  'event: checkpoint\nid: ' + cursor + '\ndata: {"cursor":"' + cursor + '"}\n\n';

/** One event per message; its `id:` is the cursor after it, so a break between two
 * events of one batch loses nothing and repeats nothing. */
function event(msg: Message, cursor: Cursor): string {
  see(cursor, msg.channel, msg.id);
  return 'id: ' + formatCursor(cursor) + '\n' + encodedAs(msg, 'sse', dataOf);
}

/**
 * The SSE format. The data line is cached on the message and shared by all
 * connections; the `id:` line is the connection's cursor, which its StreamConnection
 * keeps short with checkpoints.
 */
export function sseFormat(heartbeatMs: number): StreamFormat {
  return {
    name: 'sse',
    open(info: OpenInfo, token?: string): string {
      let out = 'retry: ' + SSE_RETRY_MS + '\nevent: ready\nid: ' + info.cursor + '\n';
      out += 'data: {"cursor":"' + info.cursor + '","heartbeatMs":' + heartbeatMs + (token === undefined ? '' : ',"stream":"' + token + '"') + '}\n\n';
      if (info.resets.length > 0) out += 'event: reset\ndata: ["' + info.resets.join('","') + '"]\n\n';
      return out;
    },
    message: event,
    batch(msgs: readonly Message[], cursor: Cursor): string {
      let out = '';
      for (let i = 0; i < msgs.length; i++) out += event(msgs[i], cursor);
      return out;
    },
    backlog(msgs: readonly Message[], cursor: Cursor): string {
      // Until the next checkpoint a cut resumes from the client's own cursor plus what it
      // received (repeating a reset rather than losing it). Each event's id lists the
      // channels of the backlog so far: past a few dozen, events of channels not yet in it
      // go without one (EventSource keeps the last), so that ids stay short and a cut in
      // a long backlog repeats some of it rather than lose any.
      let out = '';
      for (let i = 0; i < msgs.length; i++) {
        const m = msgs[i];
        const id = cursor.channels.size < BACKLOG_ID_ENTRIES || cursor.channels.has(m.channel);
        out += id ? event(m, cursor) : encodedAs(m, 'sse', dataOf);
      }
      return out;
    },
    checkpoint: checkpointEvent,
    heartbeat: 'event: heartbeat\ndata: {}\n\n',
    // EventSource itself reconnects after `retry` once the stream ends; the event tells
    // the bridge (which reconnects on its own, with its cursor) that this end is planned.
    reconnect: (delayMs) => {
      const ms = Math.max(0, Math.round(delayMs));
      return 'retry: ' + ms + '\nevent: reconnect\ndata: ' + ms + '\n\n';
    },
    error: sseFail,
  };
}

/** The `fail` event: an error the client cannot retry its way out of, or one to back off from. */
export function sseFail(code: string, message: string): string {
  return 'event: fail\ndata: {"code":' + scriptJson(code) + ',"message":' + scriptJson(message) + '}\n\n';
}

/**
 * A refusal as a whole event stream: EventSource reconnects by itself after `retry` once
 * a 200 stream ends, so a refusal retrying cannot fix (`retryMs` null) asks it to wait a
 * day rather than come back every two seconds.
 */
export function sseRefusal(code: string, message: string, retryMs: number | null): string {
  return 'retry: ' + (retryMs === null ? SSE_GIVE_UP_MS : Math.max(0, Math.round(retryMs))) + '\n' + sseFail(code, message);
}

/** EventSource's wait after a refusal that retrying cannot fix: a day. */
export const SSE_GIVE_UP_MS = 24 * 3600 * 1000;
