import { isWildcard } from '../protocol';

/**
 * Index from subscription patterns to their subscribers. Exact channels are one map
 * lookup; wildcards are looked up by the few patterns that could match a channel
 * (`**`, `*`, and `prefix/*`, `prefix/**` for each of its prefixes), so matching costs
 * O(depth of the channel), not O(number of patterns).
 */
export class Matcher<S> {
  private readonly exact = new Map<string, Set<S>>();
  private readonly wild = new Map<string, Set<S>>();

  /** Adds; returns true when the pattern had no subscriber before. */
  add(pattern: string, sub: S): boolean {
    const index = isWildcard(pattern) ? this.wild : this.exact;
    let set = index.get(pattern);
    const first = !set;
    if (!set) index.set(pattern, (set = new Set()));
    set.add(sub);
    return first;
  }

  /** Removes; returns true when the pattern has no subscriber left. */
  remove(pattern: string, sub: S): boolean {
    const index = isWildcard(pattern) ? this.wild : this.exact;
    const set = index.get(pattern);
    if (!set || !set.delete(sub)) return false;
    if (set.size === 0) index.delete(pattern);
    return set.size === 0;
  }

  get patterns(): number {
    return this.exact.size + this.wild.size;
  }

  /** Calls `fn` with each subscriber set whose pattern matches `channel`. */
  forEachMatch(channel: string, fn: (subs: Set<S>) => void): void {
    const direct = this.exact.get(channel);
    if (direct) fn(direct);
    if (this.wild.size === 0) return;
    const all = this.wild.get('**');
    if (all) fn(all);
    let slash = channel.indexOf('/');
    if (slash === -1) {
      const top = this.wild.get('*');
      if (top) fn(top);
    }
    while (slash !== -1) {
      const prefix = channel.slice(0, slash + 1);
      const deep = this.wild.get(prefix + '**');
      if (deep) fn(deep);
      const next = channel.indexOf('/', slash + 1);
      if (next === -1) {
        const one = this.wild.get(prefix + '*');
        if (one) fn(one);
      }
      slash = next;
    }
  }
}
