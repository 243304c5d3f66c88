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
  const text = single(query, 'channels');
  if (!text) throw new PushframeError('bad_pattern', 'The "channels" parameter is required, e.g. channels=news,stocks/*');
  const patterns = text.split(',');
  if (patterns.length > maxChannels) {
    throw new PushframeError('too_many_channels', `At most ${maxChannels} channels per subscription; got ${patterns.length}.`);
  }
  for (const p of patterns) if (!isPattern(p)) throw new PushframeError('bad_pattern');
  return [...new Set(patterns)];
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
