import { isWildcard } from '../../protocol';

/** Characters with a meaning in Redis glob patterns (PSUBSCRIBE). */
const GLOB_SPECIAL = /[*?[\]\\]/g;

/**
 * Key and pub/sub names for one namespace. Channel names never contain glob
 * metacharacters (their grammar is [A-Za-z0-9_.:-/]), but the namespace is the
 * operator's choice, so it is escaped where it becomes part of a glob.
 */
export class Keys {
  /** The shared epoch token (SET NX once). */
  readonly epoch: string;
  /** Sorted set of channel names, all score 0, so a prefix is a lexicographic range. */
  readonly names: string;
  /** Sorted set: channel -> time (ms) of its last publish, for sweeping idle channels. */
  readonly recent: string;
  /** Hash: channel -> id of the newest message that left its history. */
  readonly trimmed: string;
  /** Newest id of any channel whose history was dropped whole. */
  readonly forgotten: string;
  /** Prefix of the per-channel streams. */
  readonly streamPrefix: string;
  /** Prefix of the pub/sub channels. */
  readonly pubsubPrefix: string;
  /** The pub/sub channel of notes between nodes (Broker.notify), outside the prefix above. */
  readonly notes: string;

  constructor(readonly namespace: string) {
    this.epoch = namespace + 'epoch';
    this.names = namespace + 'names';
    this.recent = namespace + 'recent';
    this.trimmed = namespace + 'trimmed';
    this.forgotten = namespace + 'forgotten';
    this.streamPrefix = namespace + 's:';
    this.pubsubPrefix = namespace + 'm:';
    this.notes = namespace + 'notes';
  }

  stream(channel: string): string {
    return this.streamPrefix + channel;
  }

  pubsub(channel: string): string {
    return this.pubsubPrefix + channel;
  }

  /** The Redis subscription that carries a pushframe pattern. */
  subscription(pattern: string): { kind: 'channel' | 'pattern'; name: string } {
    if (!isWildcard(pattern)) return { kind: 'channel', name: this.pubsub(pattern) };
    // `a/*` and `a/**` both become the glob `a/*`, which also matches deeper channels:
    // received messages are filtered with matches() afterwards.
    const prefix = pattern.replace(/\*+$/, '');
    return { kind: 'pattern', name: escapeGlob(this.pubsubPrefix + prefix) + '*' };
  }

  /** Lexicographic bounds (ZRANGEBYLEX) of the channel names a wildcard can match. */
  lexRange(pattern: string): [string, string] {
    const prefix = pattern.replace(/\*+$/, '');
    if (prefix === '') return ['-', '+'];
    // Every name starting with "a/" sorts in ["a/", "a0"): '0' is the byte after '/'.
    return ['[' + prefix, '(' + prefix.slice(0, -1) + '0'];
  }
}

export function escapeGlob(text: string): string {
  return text.replace(GLOB_SPECIAL, (c) => '\\' + c);
}
