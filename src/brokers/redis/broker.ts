import { randomBytes } from 'node:crypto';
import Redis, { type RedisOptions } from 'ioredis';
import { BrokerUnavailableError, type Backlog, type Broker, type BrokerStatus, type HistoryLimits, type PublishOptions } from '../broker';
import { conflate } from '../memory';
import { EPOCH as EPOCH_GRAMMAR, MESSAGE_ID, compareIds, isWildcard, lastSeen, matches, type Cursor, type Message } from '../../protocol';
import { Keys } from './keys';
import { CANDIDATES, EPOCH, HISTORY, PUBLISH, SWEEP } from './scripts';
import { decodeEntry, decodePayload, keyLengthField } from './wire';

/** The logging this broker needs; a pino logger fits. */
export interface BrokerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RedisBrokerOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  url: string;
  limits: HistoryLimits;
  /** Prefix of every key and pub/sub channel, so several deployments can share a Redis. */
  namespace?: string;
  logger?: BrokerLogger;
  /** A command that takes longer fails, and so does the publish or subscribe behind it. */
  commandTimeoutMs?: number;
  /** Upper bound of the reconnect backoff. */
  reconnectMaxDelayMs?: number;
  /** How often idle channels are looked for and dropped. */
  sweepIntervalMs?: number;
  /** How often the subscriber connection is proven live (bounds the replay after a drop). */
  probeIntervalMs?: number;
}

export const REDIS_DEFAULTS = {
  namespace: 'pushframe:',
  /** Fail fast: a publisher waiting on a dead Redis should get its 503, not hang. */
  commandTimeoutMs: 2000,
  reconnectMaxDelayMs: 2000,
  sweepIntervalMs: 10_000,
  probeIntervalMs: 1000,
};

/** Largest part of a Redis stream id (unsigned 64-bit). */
const MAX_PART = 18446744073709551615n;
const MAX_PART_TEXT = MAX_PART.toString();
/** Channel histories read at once by a wildcard replay. */
const REPLAY_GROUP = 200;
/** Channels dropped per sweep step, so one step never blocks Redis for long. */
const SWEEP_BATCH = 500;
const SWEEP_MAX_BATCHES = 20;

const SILENT: BrokerLogger = { info() {}, warn() {}, error() {} };

/** What we know about one of the two connections, for status() and for logging once per outage. */
interface LinkState {
  downSince: number | null;
  lastError: string | null;
}

/**
 * Broker over Redis, so several pushframe nodes act as one:
 * - each channel's history is a stream (`<ns>s:<channel>`); its ids are the message ids,
 *   so they are ordered per channel the same way on every node, and a client can resume
 *   on any node;
 * - fan-out is pub/sub: the publish script appends to the stream and PUBLISHes in one
 *   atomic step; every node (the publishing one included) delivers what it receives,
 *   and only what it receives, so each node delivers each message exactly once;
 * - a node subscribes in Redis only to what its local subscribers want (watch/unwatch).
 * Commands and subscriptions use separate connections (a subscribed connection can
 * run nothing else).
 */
export class RedisBroker implements Broker {
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly keys: Keys;
  private readonly log: BrokerLogger;
  private readonly limits: HistoryLimits;
  private readonly commandTimeoutMs: number;
  private sink: (msg: Message) => void = () => {};
  private noteSink: ((note: string) => void) | null = null;
  /** Names this node in its notes, so that it skips its own. */
  private readonly origin = randomBytes(6).toString('hex');
  /** Redis subscription name -> the pushframe patterns it carries -> local watch count. */
  private readonly interest = new Map<string, Map<string, number>>();
  /** Newest id delivered per channel, for ids past `lastLive` only (older entries are
   * pruned): drops the extra copies of a publish that reaches us through a SUBSCRIBE and
   * PSUBSCRIBEs, and what a gap replay finds that pub/sub brought already. */
  private readonly delivered = new Map<string, string>();
  /** Every message with an id up to here that this node watched has reached the sink:
   * where a gap replay starts after the subscriber connection was lost. */
  private lastLive: string | null = null;
  /** Per watched pattern: an id up to which a gap replay must not go, because local
   * subscribers took what came before from history themselves (set by the first
   * position() after the watch; null until then). */
  private readonly since = new Map<string, string | null>();
  /** Live messages held while a gap is replayed, so each channel stays in id order. */
  private held: Message[] | null = null;
  private recoverAgain = false;
  /** False from a loss of the subscriber connection until what it missed is replayed:
   * meanwhile a message's `covers` would claim messages that have not arrived. */
  private continuous = true;
  /** Counts losses of the subscriber connection: a watermark measured across one is void. */
  private generation = 0;
  private nextWatermark: Promise<string> | null = null;
  private readonly links: Record<'command' | 'subscriber', LinkState> = {
    command: { downSince: null, lastError: null },
    subscriber: { downSince: null, lastError: null },
  };
  /** The latest recovery and the latest loss of data, kept for status(). */
  private recovery = '';
  private loss = '';
  private knownEpoch: string | null = null;
  private channelCount: number | undefined;
  private dropped = 0;
  private closed = false;
  private nextBarrier: Promise<void> | null = null;
  private readonly sweeper: NodeJS.Timeout;
  private readonly prober: NodeJS.Timeout;

  constructor(options: RedisBrokerOptions) {
    this.keys = new Keys(options.namespace ?? REDIS_DEFAULTS.namespace);
    this.log = options.logger ?? SILENT;
    this.limits = options.limits;
    this.commandTimeoutMs = options.commandTimeoutMs ?? REDIS_DEFAULTS.commandTimeoutMs;
    const maxDelay = options.reconnectMaxDelayMs ?? REDIS_DEFAULTS.reconnectMaxDelayMs;
    const common: RedisOptions = {
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      connectTimeout: Math.max(this.commandTimeoutMs, 1000),
      enableReadyCheck: true,
    };
    this.cmd = new Redis(options.url, {
      ...common,
      connectionName: 'pushframe-cmd',
      // No queueing while disconnected: a publish fails at once and the caller sees 503.
      enableOfflineQueue: false,
      // A command in flight when the connection drops fails instead of being replayed later.
      maxRetriesPerRequest: 0,
      commandTimeout: this.commandTimeoutMs,
    });
    this.sub = new Redis(options.url, {
      ...common,
      connectionName: 'pushframe-sub',
      // (P)SUBSCRIBEs issued while Redis is away are sent when it returns; together with
      // autoResubscribe this restores the node's interest after a reconnect.
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
    });
    this.track(this.cmd, 'command');
    this.track(this.sub, 'subscriber');
    this.sub.on('message', (name: string, payload: string) => this.receive(name, payload));
    this.sub.on('pmessage', (glob: string, _name: string, payload: string) => this.receive(glob, payload));
    this.sweeper = setInterval(() => void this.sweep(), options.sweepIntervalMs ?? REDIS_DEFAULTS.sweepIntervalMs);
    this.sweeper.unref();
    this.prober = setInterval(() => void this.probe(), options.probeIntervalMs ?? REDIS_DEFAULTS.probeIntervalMs);
    this.prober.unref();
  }

  /** Resolves once both connections are up (and the epoch is known); rejects after `timeoutMs`. */
  async connect(timeoutMs = 5000): Promise<void> {
    const up = (conn: Redis) =>
      conn.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => conn.once('ready', () => resolve()));
    try {
      await withTimeout(Promise.all([up(this.cmd), up(this.sub)]), timeoutMs, 'connecting to Redis');
    } catch {
      const why = this.links.command.lastError ?? this.links.subscriber.lastError ?? 'no answer';
      throw new BrokerUnavailableError(`Redis is not reachable (${why}) after ${timeoutMs} ms`);
    }
    await this.epoch();
    await this.probe();
    void this.sweep();
  }

  async epoch(): Promise<string> {
    // Read every time, not cached: if Redis lost its data, the epoch key is gone too,
    // a new one is set, and cursors from before get a reset instead of a silent gap.
    const epoch = await this.run('epoch', () => EPOCH.run(this.cmd, [this.keys.epoch], [randomBytes(8).toString('hex')]));
    if (typeof epoch !== 'string' || !EPOCH_GRAMMAR.test(epoch)) {
      throw new BrokerUnavailableError('Redis holds a malformed epoch under ' + this.keys.epoch);
    }
    if (this.knownEpoch !== null && this.knownEpoch !== epoch) this.epochChanged(epoch);
    this.knownEpoch = epoch;
    return epoch;
  }

  async publish(channel: string, json: string, options?: PublishOptions): Promise<string> {
    const key = options?.key;
    const id = await this.run('publish', () =>
      PUBLISH.run(
        this.cmd,
        [this.keys.stream(channel), this.keys.trimmed, this.keys.names, this.keys.recent],
        [channel, json, keyLengthField(key), key ?? '', this.limits.maxCount, this.keys.pubsub(channel)],
      ),
    );
    if (typeof id !== 'string' || !MESSAGE_ID.test(id)) throw new BrokerUnavailableError('Redis returned a malformed id');
    return id;
  }

  /**
   * Every message published after this call has a greater id. Why this holds:
   * - first a barrier (PING) on the subscriber connection: its answer comes after every
   *   SUBSCRIBE sent before it, so all local interest is live in Redis from here on;
   * - then Redis TIME = T ms. A later XADD * gets id max(now-0, last+1) with now >= T
   *   (Redis's own clock, the one XADD uses), so its id is at least `T-0`.
   * `T-0` itself could be the id of a message published in this very millisecond, so
   * the answer is the largest id below it: `(T-1)-<max seq>`. A position that is too
   * small is harmless (a little more replay); one too large would lose messages.
   * (Holds as long as the Redis host's clock does not step back between the calls.)
   */
  async position(): Promise<string> {
    const pending: string[] = [];
    for (const [pattern, since] of this.since) if (since === null) pending.push(pattern);
    await this.barrier();
    const time = await this.run('time', () => this.cmd.time());
    const ms = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    // Live since the barrier: a later gap replay for these starts after this millisecond.
    for (const pattern of pending) if (this.since.get(pattern) === null) this.since.set(pattern, `${ms}-${MAX_PART_TEXT}`);
    return `${ms - 1}-${MAX_PART_TEXT}`;
  }

  /**
   * Read on the command connection, followed by a barrier on the subscriber connection:
   * a message found in history was published before the read, so its pub/sub copy
   * precedes the barrier's PONG on the subscriber socket. When history() resolves, every
   * watched message it returns has reached the sink already (and the hub drops the
   * copy); none can trail in afterwards as a duplicate.
   */
  async history(pattern: string, cursor: Cursor): Promise<Backlog> {
    const backlog = await this.read(pattern, cursor);
    await this.barrier();
    return backlog;
  }

  private async read(pattern: string, cursor: Cursor): Promise<Backlog> {
    const backlog: Backlog = { messages: [], resets: [] };
    if (!isWildcard(pattern)) {
      await this.replay(pattern, cursor, backlog);
      return backlog;
    }
    const base = streamId(cursor.base);
    if (base === null) return backlog;
    const [lo, hi] = this.keys.lexRange(pattern);
    const since = base.slice(0, base.indexOf('-'));
    const [names, forgotten] = await this.run('history', () =>
      Promise.all([
        CANDIDATES.run(this.cmd, [this.keys.names, this.keys.recent], [lo, hi, since]) as Promise<string[]>,
        this.cmd.get(this.keys.forgotten),
      ]),
    );
    // Channels dropped whole cannot be enumerated any more: be honest about the gap.
    if (forgotten !== null && MESSAGE_ID.test(forgotten) && compareIds(cursor.base, forgotten) < 0) {
      backlog.resets.push(pattern);
    }
    const channels = names.filter((name) => matches(pattern, name));
    // In groups: thousands of reads queued at once would each wait behind the others
    // and run into the command timeout.
    const parts: Backlog[] = [];
    for (let i = 0; i < channels.length; i += REPLAY_GROUP) {
      const group = await Promise.all(
        channels.slice(i, i + REPLAY_GROUP).map(async (channel) => {
          const part: Backlog = { messages: [], resets: [] };
          await this.replay(channel, cursor, part);
          return part;
        }),
      );
      for (const part of group) parts.push(part);
    }
    for (const part of parts) {
      for (const r of part.resets) backlog.resets.push(r);
      for (const m of part.messages) backlog.messages.push(m);
    }
    // Stream ids carry Redis time: interleave channels by it (stable, so per-channel order holds).
    if (parts.length > 1) backlog.messages.sort((a, b) => compareIds(a.id, b.id));
    return backlog;
  }

  /**
   * Resolves when Redis has answered a PING on the subscriber connection sent after this
   * call: everything Redis wrote to that connection before (subscription confirmations,
   * published messages) has been handled. Callers in the same tick share one PING.
   */
  private barrier(): Promise<void> {
    if (this.sub.status !== 'ready') {
      return Promise.reject(new BrokerUnavailableError('Redis subscriber connection is ' + this.sub.status));
    }
    this.nextBarrier ??= new Promise<void>((resolve, reject) => {
      process.nextTick(() => {
        this.nextBarrier = null;
        this.run('subscriber barrier', () => withTimeout(this.sub.ping(), this.commandTimeoutMs, 'PING')).then(() => resolve(), reject);
      });
    });
    return this.nextBarrier;
  }

  /** One channel's messages after the cursor, or a reset when history has a gap there. */
  private async replay(channel: string, cursor: Cursor, backlog: Backlog): Promise<void> {
    const seen = streamId(lastSeen(cursor, channel));
    // No stream id can exceed an out-of-range id: nothing is newer, nothing is missing.
    if (seen === null) return;
    const reply = await this.run('history', () =>
      HISTORY.run(this.cmd, [this.keys.stream(channel), this.keys.trimmed, this.keys.forgotten], [channel, seen, this.limits.maxAgeMs]),
    );
    const [trimmed, exists, forgotten, entries] = reply as [string | null, number, string | null, unknown[]];
    if (exists === 0 && trimmed === null) {
      if (forgotten !== null && compareIds(seen, forgotten) < 0) backlog.resets.push(channel);
      return;
    }
    if (trimmed !== null && compareIds(trimmed, seen) > 0) {
      backlog.resets.push(channel);
      return;
    }
    const start = backlog.messages.length;
    for (const entry of Array.isArray(entries) ? entries : []) {
      const msg = decodeEntry(channel, entry);
      if (msg) backlog.messages.push(msg);
      else this.droppedMalformed('stream entry');
    }
    conflate(backlog.messages, start);
  }

  watch(pattern: string): void {
    const { kind, name } = this.keys.subscription(pattern);
    let carried = this.interest.get(name);
    if (!carried) {
      this.interest.set(name, (carried = new Map()));
      const done = kind === 'channel' ? this.sub.subscribe(name) : this.sub.psubscribe(name);
      done.catch((err: unknown) => this.log.error({ err: message(err), subscription: name }, 'redis subscribe failed'));
    }
    carried.set(pattern, (carried.get(pattern) ?? 0) + 1);
    if (!this.since.has(pattern)) this.since.set(pattern, null);
  }

  unwatch(pattern: string): void {
    const { kind, name } = this.keys.subscription(pattern);
    const carried = this.interest.get(name);
    const count = carried?.get(pattern);
    if (!carried || count === undefined) return;
    if (count > 1) carried.set(pattern, count - 1);
    else {
      carried.delete(pattern);
      this.since.delete(pattern);
    }
    if (carried.size > 0) return;
    this.interest.delete(name);
    if (this.closed) return;
    const done = kind === 'channel' ? this.sub.unsubscribe(name) : this.sub.punsubscribe(name);
    done.catch((err: unknown) => this.log.warn({ err: message(err), subscription: name }, 'redis unsubscribe failed'));
  }

  setSink(sink: (msg: Message) => void): void {
    this.sink = sink;
  }

  notify(note: string): void {
    if (this.closed) return;
    // Best effort, like the note itself: while Redis is away it is not sent.
    this.cmd.publish(this.keys.notes, this.origin + ' ' + note).catch(() => undefined);
  }

  setNoteSink(sink: (note: string) => void): void {
    const first = this.noteSink === null;
    this.noteSink = sink;
    if (!first) return;
    this.sub.subscribe(this.keys.notes).catch((err: unknown) => this.log.error({ err: message(err), subscription: this.keys.notes }, 'redis subscribe failed'));
  }

  status(): BrokerStatus {
    const ready = this.cmd.status === 'ready' && this.sub.status === 'ready';
    const parts: string[] = [];
    for (const name of ['command', 'subscriber'] as const) {
      const link = this.links[name];
      const conn = name === 'command' ? this.cmd : this.sub;
      if (conn.status !== 'ready') {
        const since = link.downSince === null ? '' : ` since ${new Date(link.downSince).toISOString()}`;
        parts.push(`${name} connection ${conn.status}${since}` + (link.lastError ? ` (${link.lastError})` : ''));
      }
    }
    if (this.recovery) parts.push(this.recovery);
    if (this.loss) parts.push(this.loss);
    const status: BrokerStatus = { kind: 'redis', ready, detail: parts.join('; ') || 'connected' };
    if (this.channelCount !== undefined) status.channels = this.channelCount;
    return status;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    clearInterval(this.prober);
    await Promise.all([quit(this.cmd, this.commandTimeoutMs), quit(this.sub, this.commandTimeoutMs)]);
  }

  private receive(subscription: string, payload: string): void {
    if (subscription === this.keys.notes) {
      const space = payload.indexOf(' ');
      if (space !== -1 && payload.slice(0, space) !== this.origin) this.noteSink?.(payload.slice(space + 1));
      return;
    }
    const carried = this.interest.get(subscription);
    if (!carried) return; // arrived after the last local subscriber left
    const msg = decodePayload(payload);
    if (!msg) {
      this.droppedMalformed('pub/sub payload');
      return;
    }
    let wanted = false;
    for (const pattern of carried.keys()) {
      if (matches(pattern, msg.channel)) {
        wanted = true;
        break;
      }
    }
    if (!wanted) return;
    if (this.held) this.held.push(msg);
    else this.deliver(msg);
  }

  /** To the sink, once per id and in id order per channel. */
  private deliver(msg: Message): void {
    const last = this.delivered.get(msg.channel);
    if (last !== undefined && compareIds(msg.id, last) <= 0) return;
    this.delivered.set(msg.channel, msg.id);
    if (msg.covers !== undefined && !this.continuous) msg = withoutCovers(msg);
    try {
      this.sink(msg);
    } catch (err) {
      this.log.error({ err: message(err), channel: msg.channel }, 'delivering a message failed');
    }
  }

  /**
   * Proves the subscriber connection live: Redis TIME = T, then a barrier. A message
   * with an id up to `(T-1)-max` was published before T (later ones get ids >= `T-0`),
   * so its pub/sub copy preceded the barrier's PONG: it has been delivered if watched.
   */
  private async probe(): Promise<void> {
    try {
      await this.measureLive();
    } catch {
      // Redis is away: the connection events say so; the next probe tries again.
    }
  }

  /** Raises `lastLive` when the subscriber connection is provably live; returns it. */
  private async measureLive(): Promise<string | null> {
    if (this.closed || this.held || !this.continuous || this.cmd.status !== 'ready' || this.sub.status !== 'ready') {
      return this.lastLive;
    }
    const generation = this.generation;
    const time = await this.cmd.time();
    await this.barrier();
    const live = `${Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000) - 1}-${MAX_PART_TEXT}`;
    // Lost (and perhaps back) in between: messages of the outage have not arrived yet.
    if (this.held || !this.continuous || generation !== this.generation) return this.lastLive;
    if (this.lastLive !== null && compareIds(live, this.lastLive) <= 0) return this.lastLive;
    this.lastLive = live;
    for (const [channel, id] of this.delivered) if (compareIds(id, live) <= 0) this.delivered.delete(channel);
    return live;
  }

  /** Every watched message with an id up to the answer has reached the sink (shared by callers in flight). */
  watermark(): Promise<string> {
    this.nextWatermark ??= this.measureLive()
      .then((live) => {
        if (live === null) throw new BrokerUnavailableError('Redis has not proven the subscriber connection live yet');
        return live;
      })
      .finally(() => {
        this.nextWatermark = null;
      });
    return this.nextWatermark;
  }

  /**
   * The subscriber connection was lost and is back: messages published meanwhile never
   * reached us. Replay them from history (everything after `lastLive`), holding live
   * messages until the replay is delivered so that each channel stays in order.
   */
  private async recover(): Promise<void> {
    if (this.closed) return;
    if (this.held) {
      // Lost again while replaying: replay once more when this round is done.
      this.recoverAgain = true;
      return;
    }
    const bases = new Map<string, string>();
    for (const [pattern, since] of this.since) {
      if (since === null) continue; // its subscriber is not open yet and reads history itself
      bases.set(pattern, this.lastLive !== null && compareIds(this.lastLive, since) > 0 ? this.lastLive : since);
    }
    if (bases.size === 0) {
      this.continuous = true;
      return;
    }
    this.held = [];
    let replayed = 0;
    try {
      await this.barrier(); // the resubscriptions are in effect: what follows comes live
      const channels = new Map(this.delivered);
      const found = await Promise.all([...bases].map(([p, base]) => this.read(p, { epoch: '', base, channels })));
      const missed: Message[] = [];
      const resets = new Set<string>();
      for (const f of found) {
        for (const m of f.messages) missed.push(m);
        for (const r of f.resets) resets.add(r);
      }
      missed.sort((a, b) => compareIds(a.id, b.id));
      for (const m of missed) {
        const before = this.delivered.get(m.channel);
        this.deliver(m);
        if (this.delivered.get(m.channel) !== before) replayed++;
      }
      if (resets.size > 0) {
        this.log.error({ channels: [...resets] }, 'messages missed while the redis subscriber was away are no longer in history');
      }
      this.log.info({ replayed }, 'replayed what the redis subscriber missed while away');
    } catch (err) {
      this.log.error({ err: message(err) }, 'replaying what the redis subscriber missed failed');
    } finally {
      // What the outage cost is delivered (or logged as lost): covers hold again,
      // unless the connection was lost once more meanwhile.
      this.continuous = !this.recoverAgain;
      const held = this.held;
      this.held = null;
      for (const m of held) this.deliver(m);
    }
    if (this.recoverAgain) {
      this.recoverAgain = false;
      await this.recover();
    }
  }

  private droppedMalformed(what: string): void {
    // Logged on the first and then every 1000th, so a misbehaving writer cannot flood the log.
    if (this.dropped++ % 1000 === 0) this.log.warn({ dropped: this.dropped }, `malformed ${what} from Redis dropped`);
  }

  private async sweep(): Promise<void> {
    if (this.closed || this.cmd.status !== 'ready') return;
    try {
      // Batches keep each script short; a full batch means more may be waiting.
      for (let batch = 0; batch < SWEEP_MAX_BATCHES; batch++) {
        const reply = (await SWEEP.run(
          this.cmd,
          [this.keys.recent, this.keys.names, this.keys.trimmed, this.keys.forgotten],
          [this.limits.maxAgeMs, this.keys.streamPrefix, SWEEP_BATCH],
        )) as [number, number];
        this.channelCount = Number(reply[1]);
        if (Number(reply[0]) < SWEEP_BATCH || this.closed) break;
      }
    } catch (err) {
      if (!this.closed) this.log.warn({ err: message(err) }, 'sweeping idle redis channels failed');
    }
  }

  /** Runs a Redis step; any failure becomes BrokerUnavailableError (HTTP 503). */
  private async run<T>(what: string, step: () => Promise<T>): Promise<T> {
    if (this.closed) throw new BrokerUnavailableError('the broker is closed');
    try {
      return await step();
    } catch (err) {
      if (err instanceof BrokerUnavailableError) throw err;
      const text = message(err);
      this.log.warn({ err: text, op: what }, 'redis command failed');
      throw new BrokerUnavailableError(`Redis ${what} failed: ${text}`);
    }
  }

  private epochChanged(epoch: string): void {
    // Ids of the lost history say nothing about the new one.
    this.delivered.clear();
    this.loss = `Redis lost its data at ${new Date().toISOString()} (epoch ${this.knownEpoch} -> ${epoch}): resuming clients get a reset`;
    this.log.warn({ from: this.knownEpoch, to: epoch }, 'redis epoch changed: history was lost');
  }

  private track(conn: Redis, name: 'command' | 'subscriber'): void {
    const link = this.links[name];
    conn.on('error', (err: Error) => {
      const text = message(err);
      // Once per outage: a reconnect loop repeats the same error many times.
      if (!this.closed && text !== link.lastError) this.log.error({ err: text, connection: name }, 'redis connection error');
      link.lastError = text;
    });
    conn.on('close', () => {
      if (name === 'subscriber') {
        this.generation++;
        this.continuous = false;
      }
      if (this.closed || link.downSince !== null) return;
      link.downSince = Date.now();
      this.log.warn({ connection: name }, 'redis connection lost; reconnecting');
    });
    conn.on('ready', () => {
      if (link.downSince === null) return;
      const downMs = Date.now() - link.downSince;
      link.downSince = null;
      link.lastError = null;
      this.recovery = `${name} connection recovered at ${new Date().toISOString()} after ${downMs} ms`;
      this.log.info({ connection: name, downMs }, 'redis connection restored');
      // A Redis that came back empty has no epoch: learn it now, so status() says so.
      if (name === 'command') this.epoch().catch(() => {});
      else void this.recover();
    });
  }
}

function withoutCovers(msg: Message): Message {
  return msg.key === undefined
    ? { channel: msg.channel, id: msg.id, json: msg.json }
    : { channel: msg.channel, id: msg.id, json: msg.json, key: msg.key };
}

/** A cursor id as a full Redis stream id, or null when it is outside their range. */
function streamId(id: string): string | null {
  const dash = id.indexOf('-');
  const ms = BigInt(dash === -1 ? id : id.slice(0, dash));
  const seq = dash === -1 ? 0n : BigInt(id.slice(dash + 1));
  // Past the largest id (which has no successor) nothing can be newer; a sequence past
  // its range is still below every id of a later millisecond.
  if (ms > MAX_PART || (ms === MAX_PART && seq >= MAX_PART)) return null;
  return `${ms}-${seq > MAX_PART ? MAX_PART : seq}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BrokerUnavailableError(`${what} timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

async function quit(conn: Redis, timeoutMs: number): Promise<void> {
  if (conn.status === 'end') return;
  if (conn.status !== 'ready') {
    conn.disconnect();
    return;
  }
  try {
    await withTimeout(conn.quit(), timeoutMs, 'QUIT');
  } catch {
    conn.disconnect();
  }
}
