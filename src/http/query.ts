import type Koa from 'koa';
import type { Exchange } from './exchange';
import { PushframeError } from '../errors';
import { CursorError, isPattern, parseCursor, type Cursor } from '../protocol';

/**
 * A parsed query: repeated parameters arrive as arrays. A Map rather than a null-prototype
 * object: such an object is a dictionary in V8, and each name stored in it was a runtime
 * call, the dearest part of parsing a stream's query.
 */
export type Query = Map<string, string | string[]>;

/**
 * Parameters one query string may carry. The endpoints read at most nine (channels,
 * since, token, t, f, origin, d, nonce, callback); the rest is room for cache busters.
 * Bounding the count before parsing keeps any parser's cost per name small.
 */
export const MAX_QUERY_PARAMS = 32;

const PARSED = Symbol('pushframe.query');

/**
 * Refuses a query string longer than `maxBytes` or with more than MAX_QUERY_PARAMS
 * parameters, before anything parses it; nothing of it is echoed.
 */
export function checkQueryBounds(querystring: string, maxBytes: number): void {
  if (querystring.length > maxBytes) {
    throw new PushframeError('query_too_large', `The query string is longer than ${maxBytes} bytes.`);
  }
  let params = 1;
  for (let i = querystring.indexOf('&'); i !== -1; i = querystring.indexOf('&', i + 1)) {
    if (++params > MAX_QUERY_PARAMS) {
      throw new PushframeError('query_too_large', `A query string has at most ${MAX_QUERY_PARAMS} parameters.`);
    }
  }
}

/**
 * Parses a query string in one pass, with URLSearchParams' decoding (`+` is a space, a
 * bad percent escape stays as it is, bytes that are not UTF-8 become U+FFFD) but without
 * building one: a stream's opening parses its query, and URLSearchParams cost it more
 * than any other step of pushframe's own. Koa's own parser calls getAll() once per name,
 * which is quadratic in repeated names.
 */
export function parseQuery(querystring: string): Query {
  const out: Query = new Map();
  const length = querystring.length;
  let start = 0;
  while (start < length) {
    let end = querystring.indexOf('&', start);
    if (end === -1) end = length;
    if (end > start) {
      const eq = querystring.indexOf('=', start);
      const split = eq !== -1 && eq < end;
      const name = decodeComponent(querystring.slice(start, split ? eq : end));
      const value = split ? decodeComponent(querystring.slice(eq + 1, end)) : '';
      const had = out.get(name);
      if (had === undefined) out.set(name, value);
      else if (Array.isArray(had)) had.push(value);
      else out.set(name, [had, value]);
    }
    start = end + 1;
  }
  return out;
}

function decodeComponent(text: string): string {
  if (text.indexOf('%') === -1 && text.indexOf('+') === -1) return text;
  const spaced = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return decodeLeniently(spaced);
  }
}

const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;

/** Percent escapes that form bytes are decoded; others stay as written; bad UTF-8 becomes U+FFFD. */
function decodeLeniently(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const pair = text.slice(i + 1, i + 3);
    if (text[i] === '%' && HEX_PAIR.test(pair)) {
      bytes.push(parseInt(pair, 16));
      i += 2;
    } else {
      const code = text.codePointAt(i) as number;
      if (code > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(code), 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The request's query, parsed once per request (the bounds are checked by middleware first). */
export function queryOf(ctx: Exchange): Query {
  const state = ctx.state as { [PARSED]?: Query };
  return (state[PARSED] ??= parseQuery(ctx.querystring));
}

/** Middleware: every request's query string is bounded before any route parses it. */
export function queryBounds(maxBytes: number): Koa.Middleware {
  return (ctx, next) => {
    checkQueryBounds(ctx.querystring, maxBytes);
    return next();
  };
}

/** One value of a query parameter; a repeated parameter is an error, not a guess. */
export function single(query: Query, name: string): string | undefined {
  const v = query.get(name);
  if (Array.isArray(v)) throw new PushframeError('bad_request', `The "${name}" parameter is given more than once.`);
  return v;
}

/** One entry of `channels=`: a pattern, and the grant that authorises it (`pattern!n`). */
export interface ChannelEntry {
  readonly pattern: string;
  /** Index into the comma-separated `token=` list; undefined without `!n`. */
  readonly grant: number | undefined;
}

/** A checked `channels=` list. Shared by every request that sent the same list: read only. */
export interface ChannelList {
  readonly entries: readonly ChannelEntry[];
  /** The distinct patterns, in order. */
  readonly patterns: readonly string[];
  /** Whether an entry names a grant (`!n`): a shared stream's list. */
  readonly grantRefs: boolean;
}

/** At most this many grants in one `token=` list (tabs sharing a stream, docs/bridge.md). */
export const MAX_GRANTS = 32;
const GRANT_REF = /^(.*)!(\d{1,2})$/;

/**
 * Lists checked lately, by their text. The pages of one site ask for a handful of lists,
 * and when their clients all come back at once, each request split and checked the same
 * list again (several microseconds of every opening in a fresh process). Bounded in
 * count and in the length of a list kept, so that no client can make it hold much.
 */
const REMEMBERED_LISTS = 256;
const REMEMBERED_LIST_CHARS = 1024;
const remembered = new Map<string, ChannelList>();

/**
 * The entries of `channels=`. A shared stream carries several tabs' subscriptions: each
 * entry may name, as `!n`, the grant of `token=` that covers it, so a pattern is allowed
 * only by the grant of the tab that asked for it.
 */
export function parseChannelList(query: Query, maxChannels: number): ChannelList {
  const text = single(query, 'channels');
  if (!text) throw new PushframeError('bad_pattern', 'The "channels" parameter is required, e.g. channels=news,stocks/*');
  const known = remembered.get(text);
  if (known !== undefined && known.entries.length <= maxChannels) return known;
  const parts = text.split(',');
  if (parts.length > maxChannels) {
    throw new PushframeError('too_many_channels', `At most ${maxChannels} channels per subscription; got ${parts.length}.`);
  }
  let grantRefs = false;
  const entries = parts.map((part): ChannelEntry => {
    const m = part.indexOf('!') === -1 ? null : GRANT_REF.exec(part);
    const entry = m ? { pattern: m[1], grant: Number(m[2]) } : { pattern: part, grant: undefined };
    if (!isPattern(entry.pattern)) throw new PushframeError('bad_pattern');
    if (entry.grant !== undefined && entry.grant >= MAX_GRANTS) {
      throw new PushframeError('bad_request', `A channel names grant ${entry.grant}; at most ${MAX_GRANTS} grants are accepted.`);
    }
    if (entry.grant !== undefined) grantRefs = true;
    return entry;
  });
  const patterns = entries.length === 1 ? [entries[0].pattern] : [...new Set(entries.map((e) => e.pattern))];
  const list: ChannelList = { entries, patterns, grantRefs };
  if (text.length <= REMEMBERED_LIST_CHARS) {
    if (remembered.size >= REMEMBERED_LISTS) remembered.delete(remembered.keys().next().value as string);
    remembered.set(text, list);
  }
  return list;
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
