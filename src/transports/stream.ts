import type { OpenInfo, Subscriber } from '../hub';
import { CHECKPOINT_ENTRIES, compareIds, formatCursor, maxId, parseCursor, raiseBase, type Cursor, type Message } from '../protocol';
import { scheduleFlush, type Flushable } from './flush';
import { wheelFor, type Beating, type HeartbeatWheel } from './heartbeats';
import type { Sink } from './sink';
import type { DropReason, Tally } from './tally';

/**
 * How one streaming transport frames things. Implementations only format strings.
 * A stateless format is shared by all connections of its transport; one that needs
 * per-connection state (SSE's `id:` cursor) is created per connection.
 */
export interface StreamFormat {
  /** Name of the transport; also the key of its cached encodings on a Message. */
  readonly name: string;
  /** The open frame and resets; the backlog follows in `backlog` (or `batch`) slices,
   * with checkpoints at the hub's marks and after it. `token`: the stream's name for the
   * request that replaces it (`replaces=`, src/http/replacing.ts), when it has one. */
  open(info: OpenInfo, token?: string): string;
  /** One message; cached on the message where possible, so every connection writes the
   * same string. Records the message in `cursor`, the client's cursor kept here. */
  message(msg: Message, cursor: Cursor): string;
  /** Messages in order; records each in `cursor`. */
  batch(msgs: readonly Message[], cursor: Cursor): string;
  /** A slice of a resume's backlog, where it differs from `batch`; records what the
   * client may resume from in `cursor`. */
  backlog?(msgs: readonly Message[], cursor: Cursor): string;
  /** A checkpoint: the client replaces its cursor with this compact one. */
  checkpoint(cursor: string): string;
  readonly heartbeat: string;
  reconnect(delayMs: number): string;
  error(code: string, message: string): string;
}

export interface StreamOptions {
  heartbeatMs: number;
  /** Recycle the stream after this many body bytes. */
  maxStreamBytes: number;
  /** Unsent bytes (socket buffer + held messages) before the client counts as too slow. */
  maxBufferedBytes: number;
  /**
   * Opening tag for this connection's frames instead of `<script>` (a CSP nonce). The
   * payload is still serialized once for all connections; only the tag is swapped here.
   */
  scriptTag?: string;
}

/**
 * Backlog bytes formatted per write while history is replayed: the next slice is
 * formatted only once the socket took the previous one, so a resume over a large history
 * holds one slice in memory per connection, not the whole backlog as one string.
 */
export const REPLAY_SLICE_BYTES = 64 * 1024;

/** How long an ended stream may take to hand over its last bytes before its socket is cut. */
export const END_LINGER_MS = 10_000;

const NO_MARKS: readonly { after: number; cursor: string }[] = [];

/**
 * One long-lived streaming response: writes the preamble, the open frame, the backlog in
 * slices as the socket drains (checkpoints at the hub's marks and after it), then batches
 * live messages per tick. Holds messages while the socket is backed up
 * (keeping only the newest per key for keep-latest messages), closes a consumer that
 * falls too far behind (it resumes from its cursor), sends heartbeats on idle, and
 * recycles itself after maxStreamBytes.
 */
export class StreamConnection implements Subscriber, Flushable, Beating {
  private pending: Message[] = [];
  private pendingBytes = 0;
  private queued = false;
  private opened = false;
  /** Backlog still to write (references to the broker's messages) and where it stands. */
  private replay: readonly Message[] | null = null;
  private replayAt = 0;
  private replayMarks: readonly { after: number; cursor: string }[] = NO_MARKS;
  private nextMark = 0;
  private replayCheckpoint: string | null = null;
  private blocked = false;
  private closed = false;
  private bytes = 0;
  /** Bytes that go out with the first frame (the preamble): one write, not two. */
  private head = '';
  /** The cursor the client holds: what it was given plus every message written since. */
  private cursor: Cursor | null = null;
  private watermark: (() => Promise<string>) | null = null;
  /** A watermark asked for and not yet answered. */
  private asking = false;
  /** A watermark known to cover every message handed to deliver() before it came:
   * written as a checkpoint once the messages pending then are written. */
  private due: string | null = null;
  /** Entries the client's cursor kept after the last checkpoint (same-millisecond ids
   * on Redis): the next checkpoint waits for CHECKPOINT_ENTRIES channels more. */
  private settled = 0;
  /** The highest `covers` of the messages written: a base the client may be given. */
  private covered: string | null = null;
  /** Past maxStreamBytes: ends once a last checkpoint is out. */
  private recycling = false;
  /** The wheel's tick of the last write: the wheel beats this stream after an interval of silence. */
  wroteAt = 0;
  /** Sent in the open frame: the request that replaces this stream names it. */
  replaceToken: string | undefined = undefined;
  private readonly wheel: HeartbeatWheel;
  private readonly onDrain = (): void => {
    this.blocked = false;
    if (this.replay !== null) this.replayMore();
    else if (this.pending.length > 0 || this.due !== null) this.flush();
  };
  private readonly onClose = (): void => this.close('client_gone');

  constructor(
    private readonly sink: Sink,
    private readonly format: StreamFormat,
    private readonly options: StreamOptions,
    private readonly tally: Tally,
    private readonly onEnd: (conn: StreamConnection) => void,
  ) {
    tally.open++;
    tally.opened++;
    sink.on('close', this.onClose);
    sink.on('drain', this.onDrain);
    // Every write stamps the wheel's tick: no stream goes more than heartbeatMs without a
    // frame, which is what the client's watchdog counts on, and a busy stream sends no
    // heartbeats at all (heartbeats.ts).
    this.wheel = wheelFor(options.heartbeatMs);
    this.wheel.add(this);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get transport(): string {
    return this.format.name;
  }

  get queuedBytes(): number {
    return this.closed ? 0 : this.sink.writableLength + this.pendingBytes;
  }

  /**
   * Bytes that precede the open frame (the iframe preamble). They go out with the first
   * frame, usually within the same turn: one socket write per new stream.
   */
  start(preamble: string): void {
    this.head = preamble;
  }

  open(info: OpenInfo): void {
    if (this.closed || this.opened || this.replay !== null) return;
    // The client's cursor until the backlog is through: its own, plus every backlog
    // message written, replaced at each mark.
    this.cursor = info.held ?? parseCursor(info.cursor);
    this.watermark = info.watermark ?? null;
    this.write(this.tagged(this.format.open(info, this.replaceToken)));
    this.replay = info.backlog;
    this.replayAt = 0;
    this.replayMarks = info.marks ?? NO_MARKS;
    this.nextMark = 0;
    this.replayCheckpoint = info.checkpoint;
    this.replayMore();
  }

  /**
   * Writes backlog slices while the socket takes them; resumes on 'drain'. A slice ends
   * at each of the hub's marks, whose checkpoint follows it, so a client cut off midway
   * holds a short cursor. Live messages wait in `pending` meanwhile and count against
   * maxBufferedBytes like any others.
   */
  private replayMore(): void {
    const backlog = this.replay as readonly Message[];
    const marks = this.replayMarks;
    const slice = this.format.backlog ?? this.format.batch;
    while (!this.closed && !this.blocked && this.replayAt < backlog.length) {
      const from = this.replayAt;
      const stop = this.nextMark < marks.length ? marks[this.nextMark].after + 1 : backlog.length;
      let bytes = 0;
      while (this.replayAt < stop && bytes < REPLAY_SLICE_BYTES) bytes += backlog[this.replayAt++].json.length;
      this.tally.messages += this.replayAt - from;
      let out = slice.call(this.format, backlog.slice(from, this.replayAt), this.cursor as Cursor);
      if (this.replayAt === stop && this.nextMark < marks.length) {
        out += this.format.checkpoint(this.replaceCursor(marks[this.nextMark++].cursor));
      }
      this.write(this.tagged(out));
      // A long replay recycles like any stream; the client resumes from what it got.
      if (!this.closed && this.bytes >= this.options.maxStreamBytes && this.replayAt < backlog.length) {
        this.end(this.tagged(this.format.reconnect(0)), 'recycle');
      }
    }
    if (this.closed || this.replayAt < backlog.length) return;
    this.replay = null;
    this.replayMarks = NO_MARKS;
    if (this.replayCheckpoint !== null) this.write(this.tagged(this.format.checkpoint(this.replaceCursor(this.replayCheckpoint))));
    this.replayCheckpoint = null;
    this.opened = true;
    if (this.pending.length > 0 || this.due !== null) this.flush();
  }

  /** The client replaces its cursor with `checkpoint`: so does the one kept for it. */
  private replaceCursor(checkpoint: string): string {
    this.cursor = parseCursor(checkpoint);
    this.settled = this.cursor.channels.size;
    return checkpoint;
  }

  deliver(msg: Message): void {
    if (this.closed) return;
    if (msg.key !== undefined && this.replaceKeyed(msg)) return;
    this.pending.push(msg);
    this.pendingBytes += msg.json.length;
    if (this.blocked || this.replay !== null) {
      if (this.sink.writableLength + this.pendingBytes > this.options.maxBufferedBytes) this.drop();
      if (this.blocked) return;
    }
    if (!this.queued) {
      this.queued = true;
      scheduleFlush(this);
    }
  }

  flush(): void {
    this.queued = false;
    if (this.closed || !this.opened || this.blocked) return;
    if (this.pending.length === 0 && this.due === null) return;
    const cursor = this.cursor as Cursor;
    const msgs = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.tally.messages += msgs.length;
    let out = this.frames(msgs, cursor);
    if (this.due !== null) {
      // Every message handed over before the watermark came is in this write or an
      // earlier one: the client may replace its cursor with the compact one.
      raiseBase(cursor, this.due);
      this.due = null;
      out += this.format.checkpoint(formatCursor(cursor));
      this.settled = cursor.channels.size;
    }
    this.write(this.tagged(out));
    if (this.closed) return;
    if (this.recycling) {
      // The last checkpoint is on its way; the stream ends right after it.
      if (!this.asking) this.end(this.tagged(this.format.reconnect(0)), 'recycle');
    } else if (this.bytes >= this.options.maxStreamBytes) {
      this.recycle();
    } else if (this.sink.writableLength > this.options.maxBufferedBytes) {
      this.drop();
    } else if (cursor.channels.size >= this.settled + CHECKPOINT_ENTRIES) {
      this.ask();
    }
  }

  /**
   * The frames of `msgs`, with a checkpoint wherever the client's cursor reaches
   * CHECKPOINT_ENTRIES channels and a message written so far covers more than its base
   * (Message.covers): the cursor stays short even within one large batch, and each SSE
   * `id:` with it.
   */
  private frames(msgs: readonly Message[], cursor: Cursor): string {
    const n = msgs.length;
    if (n === 0) return '';
    let threshold = this.settled + CHECKPOINT_ENTRIES;
    if (cursor.channels.size + n < threshold) {
      const out = n === 1 ? this.format.message(msgs[0], cursor) : this.format.batch(msgs, cursor);
      this.cover(msgs[n - 1]);
      return out;
    }
    let out = '';
    let start = 0;
    let fresh = new Set(cursor.channels.keys());
    for (let i = 0; i < n; i++) {
      fresh.add(msgs[i].channel);
      this.cover(msgs[i]);
      if (fresh.size >= threshold && this.covered !== null && compareIds(this.covered, cursor.base) > 0) {
        out += this.format.batch(msgs.slice(start, i + 1), cursor);
        raiseBase(cursor, this.covered);
        out += this.format.checkpoint(formatCursor(cursor));
        this.settled = cursor.channels.size;
        threshold = this.settled + CHECKPOINT_ENTRIES;
        start = i + 1;
        fresh = new Set(cursor.channels.keys());
      }
    }
    if (start < n) out += this.format.batch(start === 0 ? msgs : msgs.slice(start), cursor);
    return out;
  }

  private cover(msg: Message): void {
    const c = msg.covers;
    if (c !== undefined && (this.covered === null || compareIds(c, this.covered) > 0)) this.covered = c;
  }

  /**
   * Past maxStreamBytes: the client reconnects with its cursor, so it first gets a
   * compact one when there is anything to compact (also keeping the resume's history
   * read short). Without a watermark source, or when it fails, the stream ends anyway.
   */
  private recycle(): void {
    const cursor = this.cursor as Cursor;
    if (this.covered !== null && compareIds(this.covered, cursor.base) > 0) {
      raiseBase(cursor, this.covered);
      this.write(this.tagged(this.format.checkpoint(formatCursor(cursor))));
      this.settled = cursor.channels.size;
    }
    if (this.watermark === null || cursor.channels.size === 0) {
      this.end(this.tagged(this.format.reconnect(0)), 'recycle');
      return;
    }
    this.recycling = true;
    this.ask();
  }

  /** Asks the hub for a watermark; the next flush writes it as a checkpoint. */
  private ask(): void {
    if (this.asking || this.watermark === null || this.closed) return;
    this.asking = true;
    this.watermark().then(
      (position) => {
        this.asking = false;
        if (this.closed) return;
        this.due = this.due === null ? position : maxId(this.due, position);
        this.flush();
      },
      () => {
        this.asking = false;
        // The client's cursor stays longer but correct; a recycle goes ahead without it.
        if (this.recycling) this.end(this.tagged(this.format.reconnect(0)), 'recycle');
      },
    );
  }

  /** Ends the stream with a reconnect instruction (recycling, shutdown, load shedding). */
  reconnect(delayMs: number, reason: DropReason = 'shutdown'): void {
    this.end(this.tagged(this.format.reconnect(delayMs)), reason);
  }

  /** Ends the stream with an error frame (errors after the first byte). */
  fail(code: string, message: string): void {
    this.end(this.tagged(this.format.error(code, message)), 'error');
  }

  close(reason: DropReason): void {
    if (this.closed) return;
    this.closed = true;
    this.tally.open--;
    this.tally.drops[reason]++;
    this.wheel.delete(this);
    this.sink.removeListener('drain', this.onDrain);
    this.sink.removeListener('close', this.onClose);
    this.pending = [];
    this.replay = null;
    this.onEnd(this);
  }

  private write(chunk: string): void {
    if (this.head.length > 0) {
      chunk = this.head + chunk;
      this.head = '';
    }
    this.bytes += chunk.length;
    this.tally.bytes += chunk.length;
    this.wroteAt = this.wheel.tick;
    if (!this.sink.write(chunk)) this.blocked = true;
  }

  private end(chunk: string, reason: DropReason): void {
    if (this.closed) return;
    this.write(chunk);
    this.finish(reason);
  }

  /** Ends the response where it is, as a complete one. */
  private finish(reason: DropReason): void {
    this.sink.end();
    if (!this.sink.destroyed) {
      // An ended response whose client never reads would keep its socket (and descriptor)
      // forever once its slot is given back: cut it if it has not finished by then.
      const sink = this.sink;
      const linger = setTimeout(() => sink.destroy(), END_LINGER_MS);
      linger.unref();
      sink.on('close', () => clearTimeout(linger));
    }
    this.close(reason);
  }

  /**
   * Its page gave up on it and opened another (`replaces=`): nothing more can reach it.
   * The path that died may be the browser's side of a proxy, which still reads this
   * connection: a response cut short there counts this node as failed (nginx:
   * `upstream prematurely closed`, then nothing for `fail_timeout`). So it ends as a
   * complete response; the linger cuts it when no one reads it.
   */
  abandon(): void {
    if (this.closed) return;
    this.finish('replaced');
  }

  /** The client cannot keep up: cut it; it resumes from its cursor on reconnect. */
  private drop(): void {
    this.sink.destroy();
    this.close('slow_consumer');
  }

  beat(): void {
    if (this.closed) return;
    // A blocked socket gets nothing more; the wheel waits another interval.
    if (this.blocked) this.wroteAt = this.wheel.tick;
    else this.write(this.tagged(this.format.heartbeat));
  }

  /** Frames hold `<script>` only as tags: payloads cannot contain `<` (escape.ts). */
  private tagged(frames: string): string {
    const tag = this.options.scriptTag;
    return tag === undefined ? frames : frames.split('<script>').join(tag);
  }

  private replaceKeyed(msg: Message): boolean {
    const pending = this.pending;
    for (let i = pending.length - 1; i >= 0; i--) {
      const old = pending[i];
      if (old.key === msg.key && old.channel === msg.channel) {
        // Keep-latest: the newer value takes the older one's place; order by id stays
        // intact for the client because the replaced message is simply never sent.
        pending.splice(i, 1);
        pending.push(msg);
        this.pendingBytes += msg.json.length - old.json.length;
        return true;
      }
    }
    return false;
  }
}
