import type { OpenInfo, Subscriber } from '../hub';
import { CHECKPOINT_ENTRIES, advance, compareIds, encodedAs, entryCount, formatCursor, needsTextData, parseCursor, raiseBase, scriptJson, type Cursor, type Message } from '../protocol';
import { scheduleFlush, type Flushable } from './flush';
import type { Tally } from './tally';

/**
 * What one long-poll request is answered with, serialized by `pollBody`:
 * `{"cursor":"…","messages":[["ch","id",data],…],"resets":[…],"timeoutMs":N}` plus
 * `"reconnect":<ms>` when the server asks the client to wait before its next poll.
 */
export interface PollAnswer {
  /** The open cursor advanced past every message in `messages`: the next `since`. */
  cursor: string;
  messages: Message[];
  resets: string[];
  /** How long the server holds a poll: a client's watchdog allows this much silence. */
  timeoutMs: number;
  /** Set on shutdown or load shedding: poll again after this many ms (elsewhere). */
  reconnectMs?: number;
}

export interface PollOptions {
  /** How long the request is held when nothing is waiting. */
  timeoutMs: number;
  /** Answer as soon as the subscription is open, even with nothing to deliver. */
  immediate: boolean;
  /** The cursor the client came with ('' for none): handed back if it must poll again before the subscription opened. */
  since: string;
  /**
   * Message bytes one answer may carry (at least one message): a resume over a long
   * history is answered in slices, each answer's cursor resuming after the last.
   */
  maxBytes: number;
}

/** Bytes of an answer entry besides the message data: brackets, quotes, channel, id. */
const ENTRY_OVERHEAD = 8;

const entryOf = (msg: Message): string => '["' + msg.channel + '","' + msg.id + '",' + msg.json + ']';

/**
 * A JSONP entry whose data must not be run as an object literal (a `__proto__` key
 * would set the prototype): `["ch","id",null,"<json text>"]`, parsed by the page.
 */
const textEntryOf = (msg: Message): string => '["' + msg.channel + '","' + msg.id + '",null,' + scriptJson(msg.json) + ']';

/**
 * The JSON body of an answer. Channels, ids, cursors and patterns are grammar-checked
 * ASCII without quotes or backslashes, and `msg.json` is script-safe, so the body can
 * be embedded in a JSONP script as it is (`script`: then data with a `__proto__` key
 * travels as text). Each message's entry is cached on the message: every waiting poll
 * writes the same string.
 */
export function pollBody(answer: PollAnswer, script = false): string {
  let out = '{"cursor":"' + answer.cursor + '","messages":[';
  const msgs = answer.messages;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    const entry = script && needsTextData(m) ? encodedAs(m, 'pollText', textEntryOf) : encodedAs(m, 'poll', entryOf);
    out += (i > 0 ? ',' : '') + entry;
  }
  out += '],"resets":[';
  for (let i = 0; i < answer.resets.length; i++) out += (i > 0 ? ',"' : '"') + answer.resets[i] + '"';
  out += '],"timeoutMs":' + answer.timeoutMs;
  if (answer.reconnectMs !== undefined) out += ',"reconnect":' + Math.max(0, Math.round(answer.reconnectMs));
  return out + '}';
}

/**
 * One held long-poll request. It answers once, at the first of: the subscription opens
 * with a backlog or resets (or `immediate`), live messages arrive (those of the same
 * event-loop turn go out together), the timeout, or a reconnect request (shutdown).
 * The server tracks the cursor for the client: the open cursor advanced by each
 * delivered message, so the next poll resumes exactly after this answer.
 */
export class LongPoll implements Subscriber, Flushable {
  readonly transport = 'longpoll';
  private cursor: Cursor | null = null;
  /** The client's own cursor: where a partial answer resumes from. */
  private start: Cursor | null = null;
  /** The hub's checkpoints inside the backlog: a partial answer resumes from the last one it passed. */
  private marks: readonly { after: number; cursor: string }[] = [];
  private messages: Message[] = [];
  private resets: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private queued = false;
  private done = false;
  private watermark: (() => Promise<string>) | null = null;
  /** The highest `covers` of the live messages taken: a base for the answer's cursor. */
  private covered: string | null = null;
  /** A watermark asked for: the answer waits for it (once). */
  private asking = false;
  private asked = false;
  private reconnectMs: number | undefined;

  constructor(
    private readonly options: PollOptions,
    private readonly tally: Tally,
    private readonly onAnswer: (answer: PollAnswer) => void,
  ) {
    tally.open++;
    tally.opened++;
  }

  get isDone(): boolean {
    return this.done;
  }

  get queuedBytes(): number {
    let n = 0;
    if (!this.done) for (let i = 0; i < this.messages.length; i++) n += this.messages[i].json.length;
    return n;
  }

  open(info: OpenInfo): void {
    if (this.done) return;
    // One answer carries the resets and the whole backlog, so it can hand out the
    // checkpoint that covers them (and then advance it by live messages).
    this.cursor = parseCursor(info.checkpoint ?? info.cursor);
    this.start = parseCursor(info.cursor);
    this.marks = info.marks ?? [];
    this.watermark = info.watermark ?? null;
    this.resets = info.resets;
    this.messages = info.backlog;
    if (this.options.immediate || info.resets.length > 0 || info.backlog.length > 0) {
      // Wait for the end of this turn so live messages already on their way join in.
      this.queue();
    } else {
      this.timer = setTimeout(() => this.answer(), this.options.timeoutMs);
    }
  }

  deliver(msg: Message): void {
    if (this.done) return;
    if (msg.key !== undefined) this.dropOlderKeyed(msg);
    this.messages.push(msg);
    const c = msg.covers;
    if (c !== undefined && (this.covered === null || compareIds(c, this.covered) > 0)) this.covered = c;
    this.queue();
  }

  flush(): void {
    this.queued = false;
    this.answer();
  }

  /** Answers now with what is there; the client polls again after `delayMs`. */
  reconnect(delayMs: number): void {
    this.answer(delayMs);
  }

  /** The request ended without an answer (client gone, subscription failed). */
  cancel(): void {
    this.finish();
  }

  private queue(): void {
    if (this.queued) return;
    this.queued = true;
    scheduleFlush(this);
  }

  private answer(reconnectMs?: number): void {
    if (this.done) return;
    const cursor = this.cursor;
    if (cursor === null) {
      // Not open yet (history still being read): nothing to tell but "come back".
      if (reconnectMs === undefined) return;
      this.finish();
      this.onAnswer({
        cursor: this.options.since,
        messages: [],
        resets: [],
        timeoutMs: this.options.timeoutMs,
        reconnectMs,
      });
      return;
    }
    if (this.asking) {
      // The answer goes out when the watermark comes; a reconnect request waits for it too.
      if (reconnectMs !== undefined) this.reconnectMs = reconnectMs;
      return;
    }
    reconnectMs ??= this.reconnectMs;
    let messages = this.messages;
    const fit = this.fitting(messages);
    let next: Cursor = cursor;
    if (fit < messages.length) {
      // A slice of a long backlog: the client comes back at once for the rest.
      next = this.partialCursor(messages, fit);
      messages = messages.slice(0, fit);
    } else {
      for (let i = 0; i < messages.length; i++) advance(cursor, messages[i].channel, messages[i].id);
      // Every live message up to `covered` was handed to this poll: the base may move there.
      if (this.covered !== null) raiseBase(cursor, this.covered);
      if (!this.asked && this.watermark !== null && entryCount(cursor) >= CHECKPOINT_ENTRIES) {
        // Still long (no message carried a watermark): ask for one before answering.
        this.asked = this.asking = true;
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        const retry = (): void => {
          this.asking = false;
          this.answer(reconnectMs);
        };
        this.watermark().then((w) => {
          if (this.done) return;
          this.covered = this.covered === null || compareIds(w, this.covered) > 0 ? w : this.covered;
          retry();
        }, retry);
        return;
      }
    }
    this.tally.messages += messages.length;
    const answer: PollAnswer = {
      cursor: formatCursor(next),
      messages,
      resets: this.resets,
      timeoutMs: this.options.timeoutMs,
    };
    if (reconnectMs !== undefined) answer.reconnectMs = reconnectMs;
    this.finish();
    this.onAnswer(answer);
  }

  /** How many of `messages` fit in one answer (at least one). */
  private fitting(messages: readonly Message[]): number {
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      bytes += messages[i].json.length + messages[i].channel.length + messages[i].id.length + ENTRY_OVERHEAD;
      if (bytes > this.options.maxBytes && i > 0) return i;
    }
    return messages.length;
  }

  /**
   * The cursor after the first `count` messages of an answer: the last of the hub's marks
   * within them (else the client's own cursor), its base moved to the last id sent when
   * every message left for later is newer (keeps the cursor compact), and advanced
   * channel by channel. The messages are in id order only within each channel: Redis
   * numbers each channel within a millisecond on its own, so a message delivered later
   * can carry a lower id than one before it. The resets were sent in this answer already
   * and are sent again with the next slice: repeated, never lost.
   */
  private partialCursor(messages: readonly Message[], count: number): Cursor {
    let from = 0;
    let next: Cursor | null = null;
    for (const mark of this.marks) {
      if (mark.after >= count) break;
      next = parseCursor(mark.cursor);
      from = mark.after + 1;
    }
    if (next === null) {
      const start = this.start as Cursor;
      next = { epoch: start.epoch, base: start.base, channels: new Map(start.channels) };
    }
    const last = messages[count - 1].id;
    if (compareIds(last, next.base) > 0 && allNewer(messages, count, last)) raiseBase(next, last);
    for (let i = from; i < count; i++) advance(next, messages[i].channel, messages[i].id);
    return next;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.tally.open--;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Keep-latest: a newer message with the same key replaces the held one. */
  private dropOlderKeyed(msg: Message): void {
    const msgs = this.messages;
    for (let i = msgs.length - 1; i >= 0; i--) {
      if (msgs[i].key === msg.key && msgs[i].channel === msg.channel) {
        msgs.splice(i, 1);
        // The marks count backlog positions: those past the gap move down one.
        if (this.marks.length > 0 && i <= this.marks[this.marks.length - 1].after) {
          this.marks = this.marks.map((m) => (m.after >= i ? { after: m.after - 1, cursor: m.cursor } : m));
        }
        return;
      }
    }
  }
}

/** Whether every message from index `from` on has an id greater than `id`. */
function allNewer(messages: readonly Message[], from: number, id: string): boolean {
  for (let i = from; i < messages.length; i++) if (compareIds(messages[i].id, id) <= 0) return false;
  return true;
}
