import { MESSAGE_ID, isChannel, type Message } from '../../protocol';

/**
 * What travels on pub/sub and in stream entries, and how it is read back. Redis is
 * a trust boundary of its own: anything read from it is checked before it can reach
 * a page, so a foreign or corrupted entry is dropped instead of injected.
 *
 * Pub/sub payload (built by the publish script, which knows the id and Redis's time):
 *   `2 <id> <time> <channel> <keyLength|-> <key><json>`
 * (version `1`, from older nodes, has no time). The key length is counted in UTF-16
 * units by the publisher, so the reader can split key and json without a delimiter
 * that a key might contain.
 */
export const PAYLOAD_VERSION = '2';

/** Largest part of a Redis stream id (unsigned 64-bit). */
const MAX_PART_TEXT = '18446744073709551615';

/** Only JSON that scriptJson could have produced: ASCII, no `<`, `>`, `&`. */
const UNSAFE = /[<>&\u007f-\uffff]/;

export function isSafeJson(json: string): boolean {
  if (json.length === 0 || UNSAFE.test(json)) return false;
  try {
    JSON.parse(json);
    return true;
  } catch {
    return false;
  }
}

/** The key-length field the publish script puts in the payload. */
export function keyLengthField(key: string | undefined): string {
  return key === undefined ? '-' : String(key.length);
}

/**
 * A pub/sub payload as a Message. A version-2 payload published at Redis time T
 * `covers` `(T-1)-max`: a message with an id up to there was published before it
 * (later publishes get ids of at least `T-0`), so on one subscriber connection, which
 * Redis writes in publish order, its copy came first.
 */
export function decodePayload(payload: string): Message | null {
  let at = 0;
  const version = payload.slice(0, 2);
  const count = version === '2 ' ? 5 : version === '1 ' ? 4 : 0;
  if (count === 0) return null;
  const fields: string[] = [];
  for (let i = 0; i < count; i++) {
    const space = payload.indexOf(' ', at);
    if (space === -1) return null;
    fields.push(payload.slice(at, space));
    at = space + 1;
  }
  const time = count === 5 ? fields.splice(2, 1)[0] : undefined;
  const [, id, channel, keyLength] = fields;
  if (!MESSAGE_ID.test(id) || !isChannel(channel)) return null;
  if (time !== undefined && !/^[1-9]\d{0,15}$/.test(time)) return null;
  let key: string | undefined;
  if (keyLength !== '-') {
    if (!/^\d{1,9}$/.test(keyLength)) return null;
    const n = Number(keyLength);
    if (at + n > payload.length) return null;
    key = payload.slice(at, at + n);
    at += n;
  }
  const json = payload.slice(at);
  if (!isSafeJson(json)) return null;
  const msg: { channel: string; id: string; json: string; key?: string; covers?: string } = { channel, id, json };
  if (key !== undefined) msg.key = key;
  if (time !== undefined) msg.covers = `${Number(time) - 1}-${MAX_PART_TEXT}`;
  return msg;
}

/** A stream entry as XRANGE returns it: [id, [field, value, ...]]. */
export type StreamEntry = [string, string[]];

export function decodeEntry(channel: string, entry: unknown): Message | null {
  if (!Array.isArray(entry) || entry.length !== 2) return null;
  const [id, fields] = entry as [unknown, unknown];
  if (typeof id !== 'string' || !MESSAGE_ID.test(id) || !Array.isArray(fields)) return null;
  let json: string | undefined;
  let key: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    if (typeof value !== 'string') return null;
    if (name === 'j') json = value;
    else if (name === 'k') key = value;
  }
  if (json === undefined || !isSafeJson(json)) return null;
  return key === undefined ? { channel, id, json } : { channel, id, json, key };
}
