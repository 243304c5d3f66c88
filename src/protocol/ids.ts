/**
 * Message ids are opaque to clients and comparable by the server. Both brokers use
 * decimal ids: `N` for the memory broker (one counter per process) and `ms-seq` for
 * Redis stream ids. Comparison is numeric, part by part.
 */

function parts(id: string): [number, number] {
  const dash = id.indexOf('-');
  if (dash === -1) return [Number(id), 0];
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const [a1, a2] = parts(a);
  const [b1, b2] = parts(b);
  if (a1 !== b1) return a1 < b1 ? -1 : 1;
  if (a2 !== b2) return a2 < b2 ? -1 : 1;
  return 0;
}

export function maxId(a: string, b: string): string {
  return compareIds(a, b) >= 0 ? a : b;
}
