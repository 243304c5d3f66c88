/**
 * Set relations between subscription patterns (grammar.ts): what a private-channel grant
 * allows. A pattern names a set of channels: `a/b` itself, `a/*` the channels one segment
 * below `a`, `a/**` every channel below `a`; `*` and `**` are the same at the root.
 */

type Kind = 'exact' | 'one' | 'any';

interface Shape {
  segments: string[];
  kind: Kind;
}

function shape(pattern: string): Shape {
  if (pattern === '**') return { segments: [], kind: 'any' };
  if (pattern === '*') return { segments: [], kind: 'one' };
  const segments = pattern.split('/');
  const last = segments[segments.length - 1];
  if (last === '**') return { segments: segments.slice(0, -1), kind: 'any' };
  if (last === '*') return { segments: segments.slice(0, -1), kind: 'one' };
  return { segments, kind: 'exact' };
}

function startsWith(long: string[], short: string[]): boolean {
  if (short.length > long.length) return false;
  for (let i = 0; i < short.length; i++) if (long[i] !== short[i]) return false;
  return true;
}

/** Is every channel `inner` matches also matched by `outer`? (`user:42/**` covers `user:42/*`.) */
export function covers(outer: string, inner: string): boolean {
  const o = shape(outer);
  const i = shape(inner);
  if (!startsWith(i.segments, o.segments)) return false;
  const extra = i.segments.length - o.segments.length;
  switch (o.kind) {
    case 'exact':
      return i.kind === 'exact' && extra === 0;
    case 'one':
      return (i.kind === 'exact' && extra === 1) || (i.kind === 'one' && extra === 0);
    case 'any':
      return i.kind === 'exact' ? extra >= 1 : extra >= 0;
  }
}

/** Is there a channel both patterns match? (`**` overlaps `private/**`; `a/*` does not overlap `a/b/c`.) */
export function overlaps(a: string, b: string): boolean {
  const x = shape(a);
  const y = shape(b);
  const [short, long] = x.segments.length <= y.segments.length ? [x, y] : [y, x];
  if (!startsWith(long.segments, short.segments)) return false;
  const extra = long.segments.length - short.segments.length;
  if (short.kind === 'exact') return extra === 0 && long.kind === 'exact';
  if (long.kind === 'exact') return short.kind === 'any' ? extra >= 1 : extra === 1;
  // Both wildcards: `any` reaches every depth below it; `one` only the next one.
  if (short.kind === 'any') return true;
  return extra === 0;
}
