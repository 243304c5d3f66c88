import { scriptJson } from './escape';
import type { Message } from './message';

/**
 * The forever-frame wire format. Each frame is one `<script>` element calling a
 * one-letter method on `p`, the callback object the preamble binds:
 *
 *   p.o(cursor, heartbeatMs)   stream open: the client's cursor and the heartbeat interval
 *   p.m(ch, id, data, ...)      messages, as flat triplets (one call per batch)
 *   p.j(ch, id, json, ...)      messages whose data is JSON text for the page to parse
 *                               (data with a `__proto__` key, see hasProtoKey)
 *   p.x(ch, ...)                reset: history cannot cover the gap for these channels
 *   p.c(cursor)                 checkpoint: a compact cursor covering everything so far
 *   p.h()                       heartbeat
 *   p.r(delayMs)                reconnect after delayMs (recycle, shutdown, load shedding)
 *   p.e(code, message)          error; the stream ends after it
 *
 * Channel names, ids and cursors are grammar-checked ASCII with no quote, backslash
 * or `<`, so they are written between quotes as they are.
 */

const OPEN = '<script>p.';
const CLOSE = ')</script>';

/** One message as arguments of `p.m`: `"ch","id",data`. */
export function messageArgs(msg: Message): string {
  return '"' + msg.channel + '","' + msg.id + '",' + msg.json;
}

export function messagesFrame(args: string): string {
  return OPEN + 'm(' + args + CLOSE;
}

/** One message as arguments of `p.j`: `"ch","id","<json as a string>"`. */
export function messageTextArgs(msg: Message): string {
  return '"' + msg.channel + '","' + msg.id + '",' + scriptJson(msg.json);
}

export function textMessagesFrame(args: string): string {
  return OPEN + 'j(' + args + CLOSE;
}

export function openFrame(cursor: string, heartbeatMs: number, token?: string): string {
  return OPEN + 'o("' + cursor + '",' + heartbeatMs + (token === undefined ? '' : ',"' + token + '"') + CLOSE;
}

export function checkpointFrame(cursor: string): string {
  return OPEN + 'c("' + cursor + '"' + CLOSE;
}

export function resetFrame(channels: readonly string[]): string {
  return OPEN + 'x("' + channels.join('","') + '"' + CLOSE;
}

export const HEARTBEAT_FRAME = OPEN + 'h(' + CLOSE;

export function reconnectFrame(delayMs: number): string {
  return OPEN + 'r(' + Math.max(0, Math.round(delayMs)) + CLOSE;
}

export function errorFrame(code: string, message: string): string {
  return OPEN + 'e(' + scriptJson(code) + ',' + scriptJson(message) + CLOSE;
}

/**
 * Bytes a stream document must carry before its first frame so every browser runs
 * streamed scripts at once: IE's MIME sniffing waits for 256, WebKit for 512 (with a
 * charset), Firefox for 1024 without one, IE's XHR streaming for 2048
 * (shared/research/browser-protocol.md §1). 2 KiB covers them all.
 */
export const PREAMBLE_MIN_BYTES = 2048;

/** Pads a rendered preamble with one HTML comment up to `minBytes` (ASCII: chars = bytes). */
export function padPreamble(html: string, minBytes: number): string {
  const open = '<!--';
  const close = '-->\n';
  const room = minBytes - html.length - open.length - close.length;
  return html + open + ' '.repeat(Math.max(1, room)) + close;
}
