import type { Backlog, Broker, PublishOptions } from '../brokers/broker';
import { PushframeError } from '../errors';
import { CHECKPOINT_ENTRIES, advance, compareIds, copyCursor, formatCursor, isChannel, isPattern, lastSeen, matches, maxId, raiseBase, serializeData, type Cursor, type Message } from '../protocol';
import { Matcher } from './matcher';

/** What a subscriber learns when its subscription is live. */
export interface OpenInfo {
  /** The cursor the client holds before the resets and backlog below: its own on a
   * resume, a fresh one otherwise. If the client is cut off midway through the
   * backlog, this plus the ids it did receive resumes it without a gap. */
  cursor: string;
  /** `cursor` as an object of this subscriber's own, to keep and update (a subscriber
   * that tracks the client's cursor need not parse it back). */
  held?: Cursor;
  /** Channels (or patterns) whose state the client must reload: history has a gap. */
  resets: string[];
  /** Missed messages, oldest first, then those that arrived while history was read. */
  backlog: Message[];
  /** The compact cursor that covers the resets and backlog, to hand the client once
   * they are delivered; null when it equals `cursor`. */
  checkpoint: string | null;
  /** Checkpoints inside a long backlog: `cursor` covers the backlog up to and with
   * index `after`, so a client cut off midway never holds a cursor that lists every
   * channel of the backlog. In backlog order. */
  marks?: { after: number; cursor: string }[];
  /** Resolves to a position up to which every message matching the subscription has
   * been passed to deliver() (or was in this open): a base for a compact cursor. */
  watermark?: () => Promise<string>;
}

/** A local consumer of messages: one client connection of some transport. */
export interface Subscriber {
  /** Called once, before any deliver. */
  open(info: OpenInfo): void;
  deliver(msg: Message): void;
}

interface Entry {
  readonly sub: Subscriber;
  readonly patterns: readonly string[];
  /** Live messages held while history is read; null once open. */
  buffer: Message[] | null;
  /** Dispatch stamp: a subscriber matching through two patterns gets a message once. */
  stamp: number;
  closed: boolean;
}

/**
 * What subscribe() returns when the subscriber opened before it returned: a caller that
 * compares with it can go on in the same turn instead of a promise reaction later.
 */
export const SUBSCRIBED: Promise<void> = Promise.resolve();

/** What history holds after a position read in the same turn. */
const NOTHING_FOUND: readonly Backlog[] = [];

export interface HubOptions {
  /** Largest message (serialized JSON) accepted, in bytes. */
  maxMessageBytes: number;
  /** Patterns of keep-latest channels: a message published on one without a key gets
   * the channel name as its key, so lagging clients get only the newest value. */
  latestChannels?: readonly string[];
}

export interface HubStats {
  subscribers: number;
  patterns: number;
  /** Messages that reached this node from the broker. */
  messagesIn: number;
  /** Deliveries to local subscribers. */
  messagesOut: number;
}

/**
 * Channels, subscription matching and fan-out for one process. Knows nothing of HTTP;
 * ids and history belong to the broker.
 */
export class Hub {
  private readonly entries = new Map<Subscriber, Entry>();
  private readonly matcher = new Matcher<Entry>();
  private stamp = 0;
  private current: Message | null = null;
  private messagesIn = 0;
  private messagesOut = 0;

  constructor(
    readonly broker: Broker,
    private readonly options: HubOptions,
  ) {
    broker.setSink((msg) => this.dispatch(msg));
  }

  /** Publishes any JSON value; resolves to the message id. */
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<string> {
    const { json, bytes } = serializeData(data);
    return this.publishJson(channel, json, options, bytes);
  }

  /**
   * Publishes data already serialized with scriptJson (the HTTP layer parses once,
   * serializes once). `bytes` is the size of the plain JSON (serializeData), which the
   * size limit applies to; without it the escaped length is taken, which can only be larger.
   */
  async publishJson(channel: string, json: string, options?: PublishOptions, bytes: number = json.length): Promise<string> {
    if (!isChannel(channel)) throw new PushframeError('bad_channel');
    if (bytes > this.options.maxMessageBytes) {
      throw new PushframeError('message_too_large', `The message is ${bytes} bytes; the maximum is ${this.options.maxMessageBytes}.`);
    }
    if (options?.key === undefined && this.isLatestChannel(channel)) options = { ...options, key: channel };
    return this.broker.publish(channel, json, options);
  }

  /** Is `channel` configured as keep-latest as a whole (HubOptions.latestChannels)? */
  isLatestChannel(channel: string): boolean {
    const list = this.options.latestChannels;
    if (!list) return false;
    for (const p of list) if (matches(p, channel)) return true;
    return false;
  }

  /**
   * Registers a subscriber for `patterns`. Live messages are held while history after
   * `cursor` is read; then `open` gets the backlog and the subscriber goes live, so a
   * resuming client misses nothing and sees nothing twice. With a broker whose reads need
   * no waiting (Broker.immediate), `open` is called before this returns.
   */
  subscribe(sub: Subscriber, patterns: readonly string[], cursor?: Cursor): Promise<void> {
    try {
      for (const p of patterns) if (!isPattern(p)) throw new PushframeError('bad_pattern');
      if (this.entries.has(sub)) throw new Error('subscriber is already subscribed');
      const now = this.broker.immediate;
      if (now === undefined) return this.subscribeLater(sub, patterns, cursor);
      const epoch = now.epoch();
      const start: Cursor = cursor ?? { epoch, base: now.position(), channels: new Map() };
      const entry = this.register(sub, patterns);
      try {
        // A fresh start is the position read in this same turn: history holds nothing after it.
        const found =
          start.epoch !== epoch ? null
          : cursor === undefined ? NOTHING_FOUND
          : patterns.length === 1 ? [now.history(patterns[0], start)]
          : patterns.map((p) => now.history(p, start));
        this.open(entry, start, epoch, now.position(), found);
      } catch (err) {
        this.unsubscribe(sub);
        throw err;
      }
      return SUBSCRIBED;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** subscribe() over a broker that answers later: each read is awaited. */
  private async subscribeLater(sub: Subscriber, patterns: readonly string[], cursor: Cursor | undefined): Promise<void> {
    // A fresh subscription starts from a position asked for at once, before anything
    // else, and reads history from there like a resume: nothing published after the
    // call can slip between that position and the live feed.
    const [epoch, base] = await Promise.all([this.broker.epoch(), cursor ? null : this.broker.position()]);
    const start: Cursor = cursor ?? { epoch, base: base as string, channels: new Map() };
    const entry = this.register(sub, patterns);
    try {
      const position = await this.broker.position();
      let found: Backlog[] | null = null;
      if (start.epoch === epoch) {
        found = patterns.length === 1 ? [await this.broker.history(patterns[0], start)] : await Promise.all(patterns.map((p) => this.broker.history(p, start)));
      }
      if (entry.closed) return;
      this.open(entry, start, epoch, position, found);
    } catch (err) {
      this.unsubscribe(sub);
      throw err;
    }
  }

  /** Adds the subscriber to the matcher, holding live messages until it opens. */
  private register(sub: Subscriber, patterns: readonly string[]): Entry {
    const entry: Entry = { sub, patterns, buffer: [], stamp: 0, closed: false };
    this.entries.set(sub, entry);
    for (const p of patterns) if (this.matcher.add(p, entry)) this.broker.watch(p);
    return entry;
  }

  /**
   * Opens a registered subscriber: the backlog is what history `found` after `start`
   * (null: another epoch, every pattern resets) and the live messages held meanwhile;
   * `position` was taken after it registered.
   */
  private open(entry: Entry, start: Cursor, epoch: string, position: string, found: readonly Backlog[] | null): void {
    const { sub, patterns } = entry;
    const sameEpoch = found !== null;
    const resets: string[] = sameEpoch ? [] : [...patterns];
    let backlog: Message[] = [];
    if (found !== null) {
      for (const f of found) {
        for (const r of f.resets) if (!resets.includes(r)) resets.push(r);
        for (const m of f.messages) backlog.push(m);
      }
      // Stable sort: per-channel order is kept, channels interleave by id.
      if (backlog.length > 1) backlog.sort((a, b) => compareIds(a.id, b.id));
    }
    const held = entry.buffer as Message[];
    // A fresh subscription has neither: no map to keep.
    const newest = backlog.length > 0 || held.length > 0 ? new Map<string, string>() : null;
    if (backlog.length > 0) backlog = backlog.filter((m) => isNewer(newest as Map<string, string>, m));
    const fromHistory = backlog.length;
    // Live messages held meanwhile carry watermarks (Message.covers): every message up to
    // the highest one is in history or held here, so the checkpoint's base may rise to it.
    let covered: string | null = null;
    for (const m of held) {
      if (m.covers !== undefined && (covered === null || compareIds(m.covers, covered) > 0)) covered = m.covers;
      if (sameEpoch && compareIds(m.id, lastSeen(start, m.channel)) <= 0) continue;
      if (isNewer(newest as Map<string, string>, m)) backlog.push(m);
    }
    entry.buffer = null;
    this.messagesOut += backlog.length;
    // A client's base never goes back (a resume from a fresher cursor than `position`).
    const base = sameEpoch ? maxId(position, start.base) : position;
    const after: Cursor = { epoch, base, channels: new Map(sameEpoch ? start.channels : []) };
    for (const m of backlog) advance(after, m.channel, m.id);
    if (covered !== null) raiseBase(after, covered);
    const checkpoint = formatCursor(after);
    const quiet = resets.length === 0 && backlog.length === 0;
    const info: OpenInfo = {
      cursor: quiet ? checkpoint : formatCursor(start),
      // `after` is this call's own and goes nowhere else: no copy.
      held: quiet ? after : copyCursor(start),
      resets,
      backlog,
      checkpoint: quiet ? null : checkpoint,
      watermark: this.watermark,
    };
    if (sameEpoch && fromHistory > CHECKPOINT_ENTRIES) info.marks = backlogMarks(start, backlog, fromHistory, position);
    sub.open(info);
  }

  /** The broker's watermark: messages reach subscribers synchronously from its sink. */
  private readonly watermark = (): Promise<string> => this.broker.watermark();

  unsubscribe(sub: Subscriber): void {
    const entry = this.entries.get(sub);
    if (!entry) return;
    entry.closed = true;
    this.entries.delete(sub);
    for (const p of entry.patterns) if (this.matcher.remove(p, entry)) this.broker.unwatch(p);
  }

  stats(): HubStats {
    return {
      subscribers: this.entries.size,
      patterns: this.matcher.patterns,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
    };
  }

  private dispatch(msg: Message): void {
    this.messagesIn++;
    this.stamp++;
    this.current = msg;
    this.matcher.forEachMatch(msg.channel, this.deliverToSet);
    this.current = null;
  }

  /** Bound once: the per-message path allocates no closure. */
  private readonly deliverToSet = (set: Set<Entry>): void => {
    const msg = this.current as Message;
    const stamp = this.stamp;
    for (const entry of set) {
      if (entry.stamp === stamp) continue;
      entry.stamp = stamp;
      if (entry.buffer) {
        entry.buffer.push(msg);
        continue;
      }
      this.messagesOut++;
      try {
        entry.sub.deliver(msg);
      } catch {
        // One broken subscriber must not cost the others their message.
        this.unsubscribe(entry.sub);
      }
    }
  };
}

/**
 * Checkpoints inside the history part of a backlog (sorted by id): after every
 * CHECKPOINT_ENTRIES channels, a cursor whose base is the last id written. Every message
 * up to `position` was in history when it was read, so everything the subscriber lacks
 * up to that base is in the backlog before the mark. Past `position` (Redis: messages of
 * the millisecond the position was read in) no base can cover what was written, and a
 * mark there would carry one entry per channel seen: none goes there; the checkpoint
 * after the backlog covers that part. A mark goes only where the next message's id is
 * greater: Redis ids repeat across channels.
 */
function backlogMarks(start: Cursor, backlog: readonly Message[], fromHistory: number, position: string): { after: number; cursor: string }[] {
  const marks: { after: number; cursor: string }[] = [];
  const mark: Cursor = { epoch: start.epoch, base: start.base, channels: new Map(start.channels) };
  const fresh = new Set<string>();
  for (let i = 0; i < fromHistory; i++) {
    const m = backlog[i];
    if (compareIds(m.id, position) > 0) break;
    advance(mark, m.channel, m.id);
    fresh.add(m.channel);
    if (fresh.size < CHECKPOINT_ENTRIES) continue;
    if (i + 1 < fromHistory && compareIds(backlog[i + 1].id, m.id) <= 0) continue;
    if (compareIds(m.id, mark.base) <= 0) continue;
    raiseBase(mark, m.id);
    marks.push({ after: i, cursor: formatCursor(mark) });
    fresh.clear();
  }
  return marks;
}

function isNewer(newest: Map<string, string>, m: Message): boolean {
  const last = newest.get(m.channel);
  if (last !== undefined && compareIds(m.id, last) <= 0) return false;
  newest.set(m.channel, m.id);
  return true;
}
