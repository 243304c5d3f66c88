/**
 * Every client-supplied name is checked against one of these grammars and never
 * echoed otherwise (DESIGN §2, §4).
 */

export const CHANNEL_MAX_LENGTH = 200;

/** A concrete channel: `[A-Za-z0-9_.:-]` segments joined by `/`; no `.` or `..` segment. */
const SEGMENT = /^[A-Za-z0-9_.:-]+$/;

/** Broker epochs: short opaque tokens; they appear in cursors and in pages. */
export const EPOCH = /^[A-Za-z0-9]{1,32}$/;

/** Message ids: `N` (memory) or `N-M` (redis stream ids), decimal. */
export const MESSAGE_ID = /^\d{1,20}(-\d{1,20})?$/;

function validSegments(name: string, allowWildcardTail: boolean): boolean {
  if (name.length === 0 || name.length > CHANNEL_MAX_LENGTH) return false;
  const segments = name.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (allowWildcardTail && last && (s === '*' || s === '**')) continue;
    if (!SEGMENT.test(s) || s === '.' || s === '..') return false;
  }
  return true;
}

export function isChannel(name: unknown): name is string {
  return typeof name === 'string' && validSegments(name, false);
}

/** A subscription pattern: a channel, or one ending in `/*` (one segment) or `/**` (any depth). */
export function isPattern(name: unknown): name is string {
  return typeof name === 'string' && validSegments(name, true);
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
