import { EPOCH, MESSAGE_ID, isChannel } from './grammar';
import { compareIds } from './ids';

/**
 * A resume cursor says what a client already has: a base position in one broker epoch
 * ("everything up to `base`") plus the last id of every channel it has seen past the
 * base. Wire form: `<epoch>~<base>[,<channel>@<id>]*`, e.g. `k3v9~120,stocks/aex@131`.
 *
 * A message is new to the client when its id is greater than the channel's entry, or
 * than the base where the channel has none. A cursor from another epoch (the broker
 * lost its history, e.g. a restarted memory broker) cannot be honoured: every
 * subscription gets a reset.
 */
export interface Cursor {
  epoch: string;
  base: string;
  channels: Map<string, string>;
}

/**
 * Longest cursor read. Cursors the server hands out stay short (a base plus a bounded
 * number of entries, see CHECKPOINT_ENTRIES); this bound only keeps parsing work small.
 * It is lenient on purpose: a client that still holds a cursor listing hundreds of
 * channels (from an older server) resumes instead of getting a reset, and the cursor
 * it gets back is compact.
 */
export const CURSOR_MAX_LENGTH = 64 * 1024;

/**
 * A connection hands its client a checkpoint (a compact cursor) once this many
 * channels have entries past the base, so a cursor lists at most about this many
 * channels however many the connection has seen.
 */
export const CHECKPOINT_ENTRIES = 16;

export class CursorError extends Error {}

export function parseCursor(text: string): Cursor {
  if (text.length > CURSOR_MAX_LENGTH) throw new CursorError('cursor is too long');
  const entries = text.split(',');
  const head = entries[0];
  const tilde = head.indexOf('~');
  if (tilde === -1) throw new CursorError('cursor must start with EPOCH~POSITION');
  const epoch = head.slice(0, tilde);
  const base = head.slice(tilde + 1);
  if (!EPOCH.test(epoch)) throw new CursorError('cursor epoch is malformed');
  if (!MESSAGE_ID.test(base)) throw new CursorError('cursor position is malformed');
  const channels = new Map<string, string>();
  for (let i = 1; i < entries.length; i++) {
    const entry = entries[i];
    const at = entry.lastIndexOf('@');
    const channel = entry.slice(0, at);
    const id = entry.slice(at + 1);
    if (at <= 0 || !isChannel(channel) || !MESSAGE_ID.test(id)) {
      throw new CursorError('cursor entry is malformed; expected CHANNEL@ID');
    }
    channels.set(channel, id);
  }
  return { epoch, base, channels };
}

export function formatCursor(cursor: Cursor): string {
  let out = cursor.epoch + '~' + cursor.base;
  for (const [channel, id] of cursor.channels) {
    if (compareIds(id, cursor.base) > 0) out += ',' + channel + '@' + id;
  }
  return out;
}

/** What parseCursor(formatCursor(cursor)) gives, without the text in between: a new object. */
export function copyCursor(cursor: Cursor): Cursor {
  const channels = new Map<string, string>();
  for (const [channel, id] of cursor.channels) if (compareIds(id, cursor.base) > 0) channels.set(channel, id);
  return { epoch: cursor.epoch, base: cursor.base, channels };
}

/** The id a channel's messages must exceed to be new to the holder of `cursor`. */
export function lastSeen(cursor: Cursor, channel: string): string {
  const id = cursor.channels.get(channel);
  return id !== undefined && compareIds(id, cursor.base) > 0 ? id : cursor.base;
}

/** Record a delivered message in a cursor (used where the server tracks one: poll, SSE). */
export function advance(cursor: Cursor, channel: string, id: string): void {
  if (compareIds(id, lastSeen(cursor, channel)) > 0) cursor.channels.set(channel, id);
}

/**
 * Record a message written to a client in the cursor the server keeps for it. Each
 * channel is delivered in id order past the cursor, so the newest id is the entry: no
 * comparison on the per-message path.
 */
export function see(cursor: Cursor, channel: string, id: string): void {
  cursor.channels.set(channel, id);
}

/**
 * Raise a cursor's base to a watermark: a position up to which the client has every
 * message it subscribed to. Entries the new base covers are dropped, which is what
 * keeps a cursor short however many channels its holder has seen.
 */
export function raiseBase(cursor: Cursor, watermark: string): void {
  if (compareIds(watermark, cursor.base) > 0) cursor.base = watermark;
  for (const [channel, id] of cursor.channels) {
    if (compareIds(id, cursor.base) <= 0) cursor.channels.delete(channel);
  }
}

/** Channels with an entry past the base: what a formatted cursor lists. */
export function entryCount(cursor: Cursor): number {
  let n = 0;
  for (const id of cursor.channels.values()) if (compareIds(id, cursor.base) > 0) n++;
  return n;
}
