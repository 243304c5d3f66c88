import { hasProtoKey } from './escape';

/**
 * A published message as it travels inside the server. `json` is the data serialized
 * once, script-safe (see escape.ts), so every transport can embed it as-is. `encoded`
 * caches each transport's framing of this message so that the same bytes are written
 * to every matching connection.
 */
export interface Message {
  readonly channel: string;
  readonly id: string;
  readonly json: string;
  /** Keep-latest key: a client that lags gets only the newest message per key. */
  readonly key?: string;
  /**
   * A watermark this message carries, set by a broker on live delivery: every message
   * with an id up to `covers` reached this process before this one did. So once a
   * connection has written this message (and what came before it), its client has
   * everything it subscribed to up to `covers`, and its cursor can drop the entries at
   * or below it. Memory broker: the id itself (one counter, delivered in order).
   */
  readonly covers?: string;
  encoded?: Record<string, string>;
}

export function encodedAs(msg: Message, name: string, encode: (msg: Message) => string): string {
  const cache = msg.encoded ?? (msg.encoded = Object.create(null) as Record<string, string>);
  return cache[name] ?? (cache[name] = encode(msg));
}

/**
 * Must this message's data reach a page as JSON text, parsed there, rather than as a
 * script literal? (A `__proto__` key: see hasProtoKey.) Decided once per message.
 */
export function needsTextData(msg: Message): boolean {
  return encodedAs(msg, 'text', (m) => (hasProtoKey(m.json) ? '1' : '')) === '1';
}
