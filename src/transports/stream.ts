import type { OpenInfo, Subscriber } from '../hub';
import type { Message } from '../protocol';
import { scheduleFlush, type Flushable } from './flush';
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
  /** The open frame and resets; the backlog follows in `batch` slices, then `checkpoint`. */
  open(info: OpenInfo): string;
  /** After the backlog: the compact cursor that covers the resets and backlog. */
  checkpoint(cursor: string): string;
  /** One message; cached on the message where possible, so every connection writes the same string. */
  message(msg: Message): string;
  batch(msgs: readonly Message[]): string;
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

/**
 * One long-lived streaming response: writes the preamble, the open frame, the backlog in
 * slices as the socket drains, then batches live messages per tick. Holds messages while the socket is backed up
 * (keeping only the newest per key for keep-latest messages), closes a consumer that
 * falls too far behind (it resumes from its cursor), sends heartbeats on idle, and
 * recycles itself after maxStreamBytes.
 */
export class StreamConnection implements Subscriber, Flushable {
  private pending: Message[] = [];
  private pendingBytes = 0;
  private queued = false;
  private opened = false;
  /** Backlog still to write (references to the broker's messages) and where it stands. */
  private replay: readonly Message[] | null = null;
  private replayAt = 0;
  private replayCheckpoint: string | null = null;
  private blocked = false;
  private closed = false;
  private bytes = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly onDrain = (): void => {
    this.blocked = false;
    if (this.replay !== null) this.replayMore();
    else if (this.pending.length > 0) this.flush();
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
    // One timer per stream, pushed back by every write (refresh() is O(1)): no stream
    // goes more than heartbeatMs without a frame, which is what the client's watchdog
    // counts on, and a busy stream sends no heartbeats at all.
    this.heartbeat = setTimeout(() => this.beat(), options.heartbeatMs);
    this.heartbeat.unref();
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

  /** Writes bytes that precede the open frame (the iframe preamble). */
  start(preamble: string): void {
    this.write(preamble);
  }

  open(info: OpenInfo): void {
    if (this.closed || this.opened || this.replay !== null) return;
    this.write(this.tagged(this.format.open(info)));
    this.replay = info.backlog;
    this.replayAt = 0;
    this.replayCheckpoint = info.checkpoint;
    this.replayMore();
  }

  /**
   * Writes backlog slices while the socket takes them; resumes on 'drain'. Live messages
   * wait in `pending` meanwhile and count against maxBufferedBytes like any others.
   */
  private replayMore(): void {
    const backlog = this.replay as readonly Message[];
    while (!this.closed && !this.blocked && this.replayAt < backlog.length) {
      const from = this.replayAt;
      let bytes = 0;
      while (this.replayAt < backlog.length && bytes < REPLAY_SLICE_BYTES) bytes += backlog[this.replayAt++].json.length;
      this.tally.messages += this.replayAt - from;
      this.write(this.tagged(this.format.batch(backlog.slice(from, this.replayAt))));
      // A long replay recycles like any stream; the client resumes from what it got.
      if (!this.closed && this.bytes >= this.options.maxStreamBytes && this.replayAt < backlog.length) {
        this.end(this.tagged(this.format.reconnect(0)), 'recycle');
      }
    }
    if (this.closed || this.replayAt < backlog.length) return;
    this.replay = null;
    if (this.replayCheckpoint !== null) this.write(this.tagged(this.format.checkpoint(this.replayCheckpoint)));
    this.replayCheckpoint = null;
    this.opened = true;
    if (this.pending.length > 0) this.flush();
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
    if (this.closed || !this.opened || this.blocked || this.pending.length === 0) return;
    const msgs = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.tally.messages += msgs.length;
    this.write(this.tagged(msgs.length === 1 ? this.format.message(msgs[0]) : this.format.batch(msgs)));
    if (this.closed) return;
    if (this.bytes >= this.options.maxStreamBytes) {
      this.end(this.tagged(this.format.reconnect(0)), 'recycle');
    } else if (this.sink.writableLength > this.options.maxBufferedBytes) {
      this.drop();
    }
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
    clearTimeout(this.heartbeat);
    this.sink.removeListener('drain', this.onDrain);
    this.sink.removeListener('close', this.onClose);
    this.pending = [];
    this.replay = null;
    this.onEnd(this);
  }

  private write(chunk: string): void {
    this.bytes += chunk.length;
    this.tally.bytes += chunk.length;
    if (!this.closed) this.heartbeat.refresh();
    if (!this.sink.write(chunk)) this.blocked = true;
  }

  private end(chunk: string, reason: DropReason): void {
    if (this.closed) return;
    this.write(chunk);
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

  /** The client cannot keep up: cut it; it resumes from its cursor on reconnect. */
  private drop(): void {
    this.sink.destroy();
    this.close('slow_consumer');
  }

  private beat(): void {
    if (this.closed) return;
    // A blocked socket gets nothing more; the timer waits for the next interval.
    if (this.blocked) this.heartbeat.refresh();
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
