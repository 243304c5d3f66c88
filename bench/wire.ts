/**
 * Reading a forever-frame response off a raw socket, without node:http: a client per
 * stream through http.get costs far more than the server under test, and the load
 * generator shares the machine with it.
 *
 * HttpStreamReader splits the response head from the chunked body; FrameScanner cuts
 * the body into `<script>p.X(...)</script>` frames. Both are incremental (bytes arrive
 * in arbitrary pieces) and pure, so unit tests drive them with hand-made input.
 */

export interface ResponseHead {
  status: number;
  headers: Map<string, string>;
}

enum State {
  Head,
  Size,
  Data,
  DataEnd,
  Trailer,
  Done,
}

/** Largest response head or chunk-size line accepted before the stream counts as broken. */
const MAX_LINE_BYTES = 16 * 1024;

export class WireError extends Error {}

/**
 * Incremental HTTP/1.1 response reader for chunked bodies. `feed` returns the body text
 * decoded so far (the stream body is pure ASCII by protocol, so latin1 is exact).
 */
export class HttpStreamReader {
  head: ResponseHead | null = null;
  /** Raw bytes seen, head and chunk framing included. */
  wireBytes = 0;
  /** Bytes of the response head (status line and headers, with the blank line). */
  headBytes = 0;
  ended = false;
  private state = State.Head;
  private pending = '';
  private remaining = 0;

  feed(bytes: Buffer | string): string {
    const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
    this.wireBytes += text.length;
    let body = '';
    const input = this.pending + text;
    this.pending = '';
    let at = 0;
    while (at < input.length && this.state !== State.Done) {
      switch (this.state) {
        case State.Head: {
          const end = input.indexOf('\r\n\r\n', at);
          if (end === -1) return this.keep(input, at, body);
          this.head = parseHead(input.slice(at, end));
          this.headBytes = end + 4 - at;
          at = end + 4;
          if (this.head.headers.get('transfer-encoding')?.toLowerCase() !== 'chunked') {
            throw new WireError(`expected a chunked body, got status ${this.head.status}`);
          }
          this.state = State.Size;
          break;
        }
        case State.Size: {
          const end = input.indexOf('\r\n', at);
          if (end === -1) return this.keep(input, at, body);
          const line = input.slice(at, end);
          const semi = line.indexOf(';');
          const hex = (semi === -1 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw new WireError(`bad chunk size line "${line.slice(0, 40)}"`);
          this.remaining = parseInt(hex, 16);
          at = end + 2;
          this.state = this.remaining === 0 ? State.Trailer : State.Data;
          break;
        }
        case State.Data: {
          const take = Math.min(this.remaining, input.length - at);
          body += input.slice(at, at + take);
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = State.DataEnd;
          break;
        }
        case State.DataEnd: {
          if (input.length - at < 2) return this.keep(input, at, body);
          if (input.charCodeAt(at) !== 13 || input.charCodeAt(at + 1) !== 10) throw new WireError('chunk not followed by CRLF');
          at += 2;
          this.state = State.Size;
          break;
        }
        case State.Trailer: {
          // Neither server sends trailers; skip any, the body ends at the empty line.
          const end = input.indexOf('\r\n', at);
          if (end === -1) return this.keep(input, at, body);
          const empty = end === at;
          at = end + 2;
          if (empty) {
            this.state = State.Done;
            this.ended = true;
          }
          break;
        }
      }
    }
    return body;
  }

  private keep(input: string, at: number, body: string): string {
    this.pending = input.slice(at);
    if (this.pending.length > MAX_LINE_BYTES) throw new WireError('response head or chunk line too long');
    return body;
  }
}

export function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new WireError(`not an HTTP response: "${lines[0].slice(0, 60)}"`);
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon > 0) headers.set(lines[i].slice(0, colon).trim().toLowerCase(), lines[i].slice(colon + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

export interface Frame {
  /** The method letter: o, m, x, h, r, e. */
  kind: string;
  /** The call's arguments as written, without the parentheses. */
  args: string;
}

const FRAME_END = ')</script>';
const FRAME_START = '<script>p.';

/**
 * Cuts body text into protocol frames. Text that is not a frame (the preamble's
 * markup, script and padding) is counted, not returned. Payload bytes cannot contain
 * `</script>` (the protocol escapes `<` and `>`), so the first end tag closes a frame.
 */
export class FrameScanner {
  /** Body characters that were not part of a frame (the preamble). */
  otherBytes = 0;
  private buffer = '';

  push(text: string, out: Frame[]): void {
    let buf = this.buffer.length === 0 ? text : this.buffer + text;
    let at = 0;
    for (;;) {
      const end = buf.indexOf('</script>', at);
      if (end === -1) break;
      const stop = end + 9;
      const start = buf.lastIndexOf(FRAME_START, end);
      if (start >= at && buf.charCodeAt(start + 11) === 40 /* ( */ && buf.startsWith(FRAME_END, end - 1)) {
        this.otherBytes += start - at;
        out.push({ kind: buf.charAt(start + 10), args: buf.slice(start + 12, end - 1) });
      } else {
        this.otherBytes += stop - at;
      }
      at = stop;
    }
    this.buffer = at === 0 ? buf : buf.slice(at);
    buf = '';
  }
}

/** One delivered message from a `p.m` frame. */
export interface Delivery {
  channel: string;
  id: string;
  data: unknown;
}

/** Splits `p.m` arguments (flat channel, id, data triplets) into deliveries. */
export function parseMessages(args: string): Delivery[] {
  const flat = JSON.parse('[' + args + ']') as unknown[];
  if (flat.length % 3 !== 0) throw new WireError(`p.m with ${flat.length} arguments, not triplets`);
  const out: Delivery[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const channel = flat[i];
    const id = flat[i + 1];
    if (typeof channel !== 'string' || typeof id !== 'string') throw new WireError('p.m triplet without channel and id strings');
    out.push({ channel, id, data: flat[i + 2] });
  }
  return out;
}
