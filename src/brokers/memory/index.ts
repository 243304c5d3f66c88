import { randomBytes } from 'node:crypto';
import type { Backlog, Broker, BrokerStatus, HistoryLimits, ImmediateReads, PublishOptions } from '../broker';
import { compareIds, isWildcard, lastSeen, maxId, type Cursor, type Message } from '../../protocol';
import { Ring } from './ring';
import { ChannelTree } from './tree';

interface Stored {
  msg: Message;
  at: number;
}

interface ChannelHistory {
  ring: Ring<Stored>;
  /** Id of the newest message that left history (count or age); null while none has. */
  trimmedTo: string | null;
  lastId: string;
}

/** How often idle channels are swept for expired messages. */
const SWEEP_INTERVAL_MS = 10_000;

/**
 * The embedded broker: one process, nothing to install. Ids are one counter for the
 * whole process, so they are also ordered across channels; a restart starts a new
 * epoch, and resuming clients get a reset since the history is gone.
 */
export class MemoryBroker implements Broker {
  private readonly id = randomBytes(6).toString('hex');
  private counter = 0;
  private readonly channels = new Map<string, ChannelHistory>();
  /** The same names by segment: a wildcard's history costs its matching channels. */
  private readonly tree = new ChannelTree();
  /** Newest id of any channel whose history was dropped whole (idle and expired). */
  private forgottenTo: string | null = null;
  private sink: (msg: Message) => void = () => {};
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limits: HistoryLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Every read is from this process's memory. */
  readonly immediate: ImmediateReads = {
    epoch: () => this.id,
    position: () => String(this.counter),
    history: (pattern, cursor) => this.historyNow(pattern, cursor),
  };

  async epoch(): Promise<string> {
    return this.id;
  }

  async publish(channel: string, json: string, options?: PublishOptions): Promise<string> {
    const id = String(++this.counter);
    // Delivered in id order, synchronously: each message covers everything before it.
    const msg: Message =
      options?.key === undefined ? { channel, id, json, covers: id } : { channel, id, json, key: options.key, covers: id };
    let history = this.channels.get(channel);
    if (!history) {
      history = { ring: new Ring(this.limits.maxCount), trimmedTo: null, lastId: id };
      this.channels.set(channel, history);
      this.tree.add(channel);
    }
    history.lastId = id;
    const dropped = history.ring.push({ msg, at: this.now() });
    if (dropped) history.trimmedTo = dropped.msg.id;
    this.sink(msg);
    return id;
  }

  async position(): Promise<string> {
    return String(this.counter);
  }

  async watermark(): Promise<string> {
    // Publishing delivers before it returns: whatever has an id has reached the sink.
    return String(this.counter);
  }

  async history(pattern: string, cursor: Cursor): Promise<Backlog> {
    return this.historyNow(pattern, cursor);
  }

  private historyNow(pattern: string, cursor: Cursor): Backlog {
    const backlog: Backlog = { messages: [], resets: [] };
    if (!isWildcard(pattern)) {
      this.replay(pattern, cursor, backlog);
      return backlog;
    }
    // Channels that left memory whole cannot be enumerated: be honest about the gap.
    if (this.forgottenTo !== null && compareIds(cursor.base, this.forgottenTo) < 0) {
      backlog.resets.push(pattern);
    }
    this.tree.forEachMatch(pattern, (channel) => this.replay(channel, cursor, backlog));
    return backlog;
  }

  private replay(channel: string, cursor: Cursor, backlog: Backlog): void {
    const seen = lastSeen(cursor, channel);
    const history = this.channels.get(channel);
    if (!history) {
      if (this.forgottenTo !== null && compareIds(seen, this.forgottenTo) < 0) backlog.resets.push(channel);
      return;
    }
    this.expire(history);
    if (compareIds(history.lastId, seen) <= 0) return;
    if (history.trimmedTo !== null && compareIds(history.trimmedTo, seen) > 0) {
      backlog.resets.push(channel);
      return;
    }
    const ring = history.ring;
    const start = backlog.messages.length;
    for (let i = 0; i < ring.size; i++) {
      const msg = ring.at(i).msg;
      if (compareIds(msg.id, seen) > 0) backlog.messages.push(msg);
    }
    conflate(backlog.messages, start);
  }

  private expire(history: ChannelHistory): void {
    const oldest = this.now() - this.limits.maxAgeMs;
    let head = history.ring.peek();
    while (head && head.at < oldest) {
      history.ring.shift();
      history.trimmedTo = head.msg.id;
      head = history.ring.peek();
    }
  }

  private sweep(): void {
    for (const [channel, history] of this.channels) {
      this.expire(history);
      if (history.ring.size === 0) {
        this.channels.delete(channel);
        this.tree.remove(channel);
        this.forgottenTo = this.forgottenTo === null ? history.lastId : maxId(this.forgottenTo, history.lastId);
      }
    }
  }

  watch(): void {
    // Every message is local: the sink sees them all, the hub filters by interest.
  }

  unwatch(): void {}

  setSink(sink: (msg: Message) => void): void {
    this.sink = sink;
  }

  notify(): void {
    // One process: no other node to tell (a cluster's workers talk through IpcBrokerHost).
  }

  setNoteSink(): void {}

  status(): BrokerStatus {
    return { kind: 'memory', ready: true, channels: this.channels.size };
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}

/**
 * Keep-latest: among messages[start..], drop every keyed message that a later message
 * of the same channel and key supersedes. Order of the survivors is kept.
 */
export function conflate(messages: Message[], start = 0): void {
  let keyed = false;
  for (let i = start; i < messages.length && !keyed; i++) keyed = messages[i].key !== undefined;
  if (!keyed) return;
  const latest = new Set<string>();
  const kept: Message[] = [];
  for (let i = messages.length - 1; i >= start; i--) {
    const msg = messages[i];
    if (msg.key !== undefined) {
      const k = msg.channel + '\n' + msg.key;
      if (latest.has(k)) continue;
      latest.add(k);
    }
    kept.push(msg);
  }
  messages.length = start;
  for (let i = kept.length - 1; i >= 0; i--) messages.push(kept[i]);
}
