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
  encoded?: Record<string, string>;
}

export function encodedAs(msg: Message, name: string, encode: (msg: Message) => string): string {
  const cache = msg.encoded ?? (msg.encoded = Object.create(null) as Record<string, string>);
  return cache[name] ?? (cache[name] = encode(msg));
}
