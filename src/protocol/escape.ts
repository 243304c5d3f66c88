/**
 * JSON that is safe inside an HTML `<script>` element: after JSON.stringify, the
 * characters that could end the script (`</script>`), open a comment (`<!--`), be read
 * as an entity in legacy parsers (`&`), or end a JavaScript line in pre-ES2019 engines
 * (U+2028, U+2029) become `\uXXXX` escapes. Everything else outside ASCII is escaped
 * too so that the stream body stays pure ASCII, whatever charset a browser assumes.
 */

const UNSAFE = /[<>&\u007f-\uffff]/g;

function escapeChar(c: string): string {
  return '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4);
}

export function scriptSafe(json: string): string {
  return json.replace(UNSAFE, escapeChar);
}

/** JSON.stringify for a value that will be written into a `<script>` element. */
export function scriptJson(value: unknown): string {
  const json = JSON.stringify(value);
  // undefined (and functions) have no JSON form; null is the honest stand-in.
  return json === undefined ? 'null' : scriptSafe(json);
}

/** An ASCII letter or `_` written as a `\u` escape: JSON that spells a key this way could hide `__proto__`. */
const ESCAPED_NAME_CHAR = /\\u00(?:[46][1-9a-f]|[57][0-9a]|5f)/i;

/**
 * Does this JSON have an object key `__proto__`? JSON.parse makes such a key an own
 * property, but the same text run as a JavaScript object literal (a `<script>` frame,
 * a JSONP answer) sets the object's prototype instead: the data would reach the page
 * altered. Such payloads travel as JSON text that the page parses. The fast path is
 * a substring test; only a payload that could hold the key is parsed.
 */
export function hasProtoKey(json: string): boolean {
  if (json.indexOf('__proto__') === -1 && !ESCAPED_NAME_CHAR.test(json)) return false;
  let found = false;
  try {
    JSON.parse(json, (key, value: unknown) => {
      if (key === '__proto__') found = true;
      return value;
    });
  } catch {
    return false;
  }
  return found;
}

/** Message data ready to publish: script-safe JSON, and the size that limits apply to. */
export interface SerializedData {
  json: string;
  /** UTF-8 bytes of the plain JSON, before escaping: the size a publisher sent. The
   * escaped form may be up to six times longer (`<` becomes `\u003c`), so a limit
   * measured on it would refuse text long before the configured size. */
  bytes: number;
}

export function serializeData(value: unknown): SerializedData {
  const plain = JSON.stringify(value) ?? 'null';
  return { json: scriptSafe(plain), bytes: Buffer.byteLength(plain, 'utf8') };
}
