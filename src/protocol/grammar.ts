/**
 * Every client-supplied name is checked against one of these grammars and never
 * echoed otherwise (DESIGN §2, §4).
 */

export const CHANNEL_MAX_LENGTH = 200;

/**
 * A concrete channel: `[A-Za-z0-9_.:-]` segments joined by `/`; no `.` or `..` segment.
 * A pattern may end in a `*` or `**` segment. Whole-name expressions rather than a split
 * and a test per segment: every stream opening checks its patterns. Linear: no segment
 * contains the `/` that ends it.
 */
const CHANNEL = /^(?:[A-Za-z0-9_.:-]+\/)*[A-Za-z0-9_.:-]+$/;
const PATTERN = /^(?:[A-Za-z0-9_.:-]+\/)*(?:[A-Za-z0-9_.:-]+|\*\*?)$/;
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** Broker epochs: short opaque tokens; they appear in cursors and in pages. */
export const EPOCH = /^[A-Za-z0-9]{1,32}$/;

/** Message ids: `N` (memory) or `N-M` (redis stream ids), decimal. */
export const MESSAGE_ID = /^\d{1,20}(-\d{1,20})?$/;

function valid(name: string, grammar: RegExp): boolean {
  return name.length > 0 && name.length <= CHANNEL_MAX_LENGTH && grammar.test(name) && !DOT_SEGMENT.test(name);
}

export function isChannel(name: unknown): name is string {
  return typeof name === 'string' && valid(name, CHANNEL);
}

/** A subscription pattern: a channel, or one ending in `/*` (one segment) or `/**` (any depth). */
export function isPattern(name: unknown): name is string {
  return typeof name === 'string' && valid(name, PATTERN);
}

export function isWildcard(pattern: string): boolean {
  return pattern === '*' || pattern === '**' || pattern.endsWith('/*') || pattern.endsWith('/**');
}

/** Does `pattern` (a channel or a wildcard pattern) match the concrete `channel`? */
export function matches(pattern: string, channel: string): boolean {
  if (pattern === channel) return true;
  if (pattern === '**') return true;
  if (pattern === '*') return channel.indexOf('/') === -1;
  if (pattern.endsWith('/**')) {
    const prefix = pattern.slice(0, -2); // keeps the trailing '/'
    return channel.length > prefix.length && channel.startsWith(prefix);
  }
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -1);
    return (
      channel.length > prefix.length &&
      channel.startsWith(prefix) &&
      channel.indexOf('/', prefix.length) === -1
    );
  }
  return false;
}
