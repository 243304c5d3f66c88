import { IncomingMessage, ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
import { Socket } from 'node:net';

/**
 * Response headers that many responses share (a stream's content type, cache and framing
 * policy), checked and rendered once. Given to writeHead, Node checks every name and
 * value of every response again: for a stream opening, most of the time writeHead took.
 */
export interface FixedHeaders {
  readonly headers: Readonly<Record<string, string>>;
  /** The same headers as head lines, each ending in CRLF. */
  readonly text: string;
}

/** Checks `headers` as writeHead would (throws the same errors) and renders them once. */
export function fixedHeaders(headers: Readonly<Record<string, string>>): FixedHeaders {
  let text = '';
  for (const [name, value] of Object.entries(headers)) {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    text += name + ': ' + value + '\r\n';
  }
  return { headers, text };
}

/** ServerResponse's own record of its head: built by writeHead, sent with the first write. */
interface HeadState {
  _header?: unknown;
  _headerSent?: unknown;
}

/**
 * `res.writeHead(status, [...fixed, ...extra])`. On a response with no headers set yet,
 * Node renders only `extra` (a new browser's cookie) and the fixed lines go in after its
 * status line, where it would have put them: the same head, byte for byte. Headers
 * already on the response (an application's, set before pushframe's handler) make Node
 * merge by name, which would replace a cookie rather than add one; then `extra` is
 * appended to the response first, as a Koa context does.
 */
export function writeHeadWith(res: ServerResponse, status: number, fixed: FixedHeaders, extra: readonly string[] | null): void {
  if (res.getHeaderNames().length > 0) {
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.appendHeader(extra[i], extra[i + 1]);
    res.writeHead(status, fixed.headers);
    return;
  }
  if (!SPLICES_HEAD) {
    res.writeHead(status, extra === null ? fixed.headers : [...Object.entries(fixed.headers).flat(), ...extra]);
    return;
  }
  // Node reads the list and keeps nothing of it.
  res.writeHead(status, extra === null ? NONE : (extra as string[]));
  const state = res as ServerResponse & HeadState;
  const head = state._header as string;
  const afterStatus = head.indexOf('\r\n') + 2;
  state._header = head.slice(0, afterStatus) + fixed.text + head.slice(afterStatus);
}

const NONE: string[] = [];

/**
 * Whether this Node keeps the head as ServerResponse#_header, a string to be sent with
 * the first write, as Node has since its first releases: asked once of a response on a
 * socket that is never connected. Otherwise every head goes through writeHead whole.
 */
const SPLICES_HEAD: boolean = (() => {
  try {
    const probe = new ServerResponse(new IncomingMessage(new Socket()));
    probe.writeHead(200, ['X-Probe', '1']);
    const state = probe as ServerResponse & HeadState;
    return typeof state._header === 'string' && state._headerSent === false && state._header.startsWith('HTTP/1.1 200 OK\r\nX-Probe: 1\r\n');
  } catch {
    return false;
  }
})();
