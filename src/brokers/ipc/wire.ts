import type { Backlog, PublishOptions } from '../broker';
import type { Cursor, Message } from '../../protocol';

/**
 * The messages between a worker's IpcBroker and the primary's IpcBrokerHost. They travel
 * over node's IPC channel (JSON lines), which keeps their order: a reply the host sends
 * after a delivery reaches the worker after it. Every message is tagged so that other
 * traffic on the same channel (node:cluster's own, the cluster's control) passes by.
 */
export const IPC_TAG = 'pushframe:broker';

/** One call from a worker: `n` numbers it so the reply can find its promise. */
export type Call =
  | { op: 'epoch' }
  | { op: 'position' }
  | { op: 'watermark' }
  | { op: 'publish'; channel: string; json: string; options?: PublishOptions }
  | { op: 'history'; pattern: string; cursor: WireCursor };

export type ToHost =
  | { tag: typeof IPC_TAG; client: string; n: number; call: Call }
  | { tag: typeof IPC_TAG; client: string; watch: string }
  | { tag: typeof IPC_TAG; client: string; unwatch: string }
  | { tag: typeof IPC_TAG; client: string; note: string }
  | { tag: typeof IPC_TAG; client: string; bye: true };

/** What the host sends one client, in the order it happened: deliveries, notes from other clients and replies. */
export type Item =
  | { d: WireMessage }
  | { note: string }
  | { n: number; ok: unknown }
  | { n: number; err: { message: string; code?: string } };

/** Everything for one client from one turn of the host's event loop, in one IPC message. */
export type ToClient = { tag: typeof IPC_TAG; client: string; items: Item[] };

/** A Message without the per-process encoding cache. */
export interface WireMessage {
  channel: string;
  id: string;
  json: string;
  key?: string;
  covers?: string;
}

/** A Cursor with its Map as entries (JSON has no Map). */
export interface WireCursor {
  epoch: string;
  base: string;
  channels: [string, string][];
}

export type WireBacklog = { messages: WireMessage[]; resets: string[] };

export function isIpcMessage(value: unknown): value is { tag: string; client: string } {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === IPC_TAG;
}

export function toWireMessage(msg: Message): WireMessage {
  const out: WireMessage = { channel: msg.channel, id: msg.id, json: msg.json };
  if (msg.key !== undefined) out.key = msg.key;
  if (msg.covers !== undefined) out.covers = msg.covers;
  return out;
}

export function toWireCursor(cursor: Cursor): WireCursor {
  return { epoch: cursor.epoch, base: cursor.base, channels: [...cursor.channels] };
}

export function fromWireCursor(cursor: WireCursor): Cursor {
  return { epoch: cursor.epoch, base: cursor.base, channels: new Map(cursor.channels) };
}

export function toWireBacklog(backlog: Backlog): WireBacklog {
  return { messages: backlog.messages.map(toWireMessage), resets: backlog.resets };
}
