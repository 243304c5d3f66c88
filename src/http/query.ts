import { PushframeError } from '../errors';
import { CursorError, isPattern, parseCursor, type Cursor } from '../protocol';

/** Koa's parsed query: repeated parameters arrive as arrays. */
export type Query = Record<string, string | string[] | undefined>;

/** One value of a query parameter; a repeated parameter is an error, not a guess. */
export function single(query: Query, name: string): string | undefined {
  const v = query[name];
  if (Array.isArray(v)) throw new PushframeError('bad_request', `The "${name}" parameter is given more than once.`);
  return v;
}

export function parsePatterns(query: Query, maxChannels: number): string[] {
  return [...new Set(parseChannelEntries(query, maxChannels).map((e) => e.pattern))];
}

/** One entry of `channels=`: a pattern, and the grant that authorises it (`pattern!n`). */
export interface ChannelEntry {
  pattern: string;
  /** Index into the comma-separated `token=` list; undefined without `!n`. */
  grant: number | undefined;
}

/** At most this many grants in one `token=` list (tabs sharing a stream, docs/bridge.md). */
export const MAX_GRANTS = 32;
const GRANT_REF = /^(.*)!(\d{1,2})$/;

/**
 * The entries of `channels=`. A shared stream carries several tabs' subscriptions: each
 * entry may name, as `!n`, the grant of `token=` that covers it, so a pattern is allowed
 * only by the grant of the tab that asked for it.
 */
export function parseChannelEntries(query: Query, maxChannels: number): ChannelEntry[] {
  const text = single(query, 'channels');
  if (!text) throw new PushframeError('bad_pattern', 'The "channels" parameter is required, e.g. channels=news,stocks/*');
  const parts = text.split(',');
  if (parts.length > maxChannels) {
    throw new PushframeError('too_many_channels', `At most ${maxChannels} channels per subscription; got ${parts.length}.`);
  }
  return parts.map((part) => {
    const m = GRANT_REF.exec(part);
    const entry = m ? { pattern: m[1], grant: Number(m[2]) } : { pattern: part, grant: undefined };
    if (!isPattern(entry.pattern)) throw new PushframeError('bad_pattern');
    if (entry.grant !== undefined && entry.grant >= MAX_GRANTS) {
      throw new PushframeError('bad_request', `A channel names grant ${entry.grant}; at most ${MAX_GRANTS} grants are accepted.`);
    }
    return entry;
  });
}

export function parseSince(query: Query): Cursor | undefined {
  return parseResumeCursor(single(query, 'since'), 'The "since" cursor');
}

/** A resume cursor from the query or a header (`Last-Event-ID`); empty means none. */
export function parseResumeCursor(text: string | undefined, what: string): Cursor | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    return parseCursor(text);
  } catch (err) {
    if (err instanceof CursorError) throw new PushframeError('bad_cursor', `${what} is malformed: ${err.message}.`);
    throw err;
  }
}
