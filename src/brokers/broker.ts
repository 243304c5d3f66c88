import type { Cursor, Message } from '../protocol';

/** What a replay from history found for one subscription pattern. */
export interface Backlog {
  /** Messages newer than the cursor, oldest first within each channel. */
  messages: Message[];
  /** Channels whose gap history can no longer cover: the client must reload their state. */
  resets: string[];
}

/**
 * What a broker whose ids and history live in this process (the memory broker) answers at
 * once: the same as epoch(), position() and history(), without a promise. With it the hub
 * opens a subscription in the turn it was asked for, and a stream's open frame goes out
 * with its head, instead of after three rounds of awaiting answers already known.
 */
export interface ImmediateReads {
  epoch(): string;
  position(): string;
  history(pattern: string, cursor: Cursor): Backlog;
}

export interface PublishOptions {
  /** Keep-latest key (conflation): see Message.key. */
  key?: string;
}

/**
 * How messages travel between server processes and where history lives. The hub owns
 * local subscribers and fan-out; a broker owns ids, history and cross-node delivery.
 * Every broker passes the contract suite in test/contract/.
 */
export interface Broker {
  /** Names the history this broker serves; cursors from another epoch get a reset. */
  epoch(): Promise<string>;
  /** Assigns the next id for `channel`, stores the message in history and delivers it
   * (on every node) to the sink of each broker watching a matching pattern. */
  publish(channel: string, json: string, options?: PublishOptions): Promise<string>;
  /** A position such that every message published after this call has a greater id. */
  position(): Promise<string>;
  /**
   * A position W such that every message with an id up to W on a channel this broker
   * watches has reached the sink by the time the promise resolves. Lets a connection
   * hand its client a compact cursor when no delivered message carried one (`covers`).
   */
  watermark(): Promise<string>;
  /** Messages on channels matching `pattern` that the holder of `cursor` has not seen. */
  history(pattern: string, cursor: Cursor): Promise<Backlog>;
  /** Local interest: deliver messages on channels matching `pattern` to the sink. */
  watch(pattern: string): void;
  unwatch(pattern: string): void;
  /** Where delivered messages go: the hub. Set once, before any watch. */
  setSink(sink: (msg: Message) => void): void;
  /**
   * Sends `note` to the note sink of every other process on this broker's backend (not
   * to this one's): what one node tells the others, such as "end the stream this token
   * names, if you hold it". Best effort: no id, no history, no client ever sees it.
   */
  notify(note: string): void;
  /** Where notes from other processes go. */
  setNoteSink(sink: (note: string) => void): void;
  /** Set when this broker's reads need no waiting (ImmediateReads); a broker that asks
   * another process (Redis, a cluster's primary) leaves it undefined. */
  readonly immediate?: ImmediateReads;
  /** Broker state for /stats and /healthz. */
  status(): BrokerStatus;
  close(): Promise<void>;
}

export interface BrokerStatus {
  kind: string;
  ready: boolean;
  channels?: number;
  detail?: string;
}

export interface HistoryLimits {
  /** Messages kept per channel. */
  maxCount: number;
  /** Milliseconds a message is kept. */
  maxAgeMs: number;
}

export class BrokerUnavailableError extends Error {
  readonly code = 'broker_unavailable';
}
