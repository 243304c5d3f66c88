import vm from 'node:vm';
import type { PushframeServer } from '../../src';
import { get } from '../helpers/http';
import { publish, startTestServer } from '../helpers/server';
import { SseClient } from '../helpers/sse-client';
import { StreamClient } from '../helpers/stream-client';

/**
 * Channel names and payload keys that are also names of Object.prototype members are
 * ordinary channels and ordinary data on every transport: published over HTTP, read
 * back over real sockets, and the script transports' bytes run as JavaScript (as a
 * page runs them), where a `__proto__` key in an object literal would set the
 * prototype instead of making a property.
 */

const NAMES = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', 'px/__proto__'];
const PAYLOAD_TEXT = '{"__proto__":{"polluted":true},"constructor":{"prototype":1},"hasOwnProperty":2,"toString":"x","nested":[{"__proto__":null}]}';

/** What the data must be: own properties only, prototypes untouched. */
function expectOrdinary(data: unknown): void {
  const d = data as Record<string, unknown>;
  expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
  expect(Object.prototype.hasOwnProperty.call(d, '__proto__')).toBe(true);
  expect(JSON.stringify(d)).toBe(PAYLOAD_TEXT);
  expect((d as { polluted?: unknown }).polluted).toBeUndefined();
  const nested = (d.nested as Record<string, unknown>[])[0];
  expect(Object.getPrototypeOf(nested)).toBe(Object.prototype);
  expect(Object.prototype.hasOwnProperty.call(nested, '__proto__')).toBe(true);
}

/** Runs a stream body's frames as a page does: each `<script>` in a context whose `p` records calls. */
function runFrames(body: string): { letter: string; args: unknown[] }[] {
  const calls: { letter: string; args: unknown[] }[] = [];
  const p: Record<string, (...args: unknown[]) => void> = {};
  for (const letter of 'omjxchre') p[letter] = (...args: unknown[]) => void calls.push({ letter, args });
  const context = vm.createContext({ p, Object, JSON });
  const re = /<script>(p\.[a-z]\([\s\S]*?\))<\/script>/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body)) !== null) vm.runInContext(m[1], context);
  return calls;
}

/** Data from recorded p.m / p.j calls, the way the bridge reads them (p.j: JSON text, parsed). */
function framesData(calls: { letter: string; args: unknown[] }[]): { channel: string; data: unknown }[] {
  const out: { channel: string; data: unknown }[] = [];
  for (const c of calls) {
    if (c.letter !== 'm' && c.letter !== 'j') continue;
    for (let i = 0; i < c.args.length; i += 3) {
      const raw = c.args[i + 2];
      // Values made in another vm context: copy them into this realm through JSON
      // where the frame was p.m (a literal); p.j text is parsed here.
      out.push({ channel: c.args[i] as string, data: c.letter === 'j' ? JSON.parse(raw as string) : raw });
    }
  }
  return out;
}

describe('prototype-member names as channels and payload keys', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ heartbeatMs: 60_000 });
  });
  afterAll(() => server.close());

  it('flow through publish, stream, JSONP poll, JSON poll and SSE as ordinary channels and data, and resume', async () => {
    const channels = NAMES.join(',');
    const stream = await StreamClient.open(`${server.url}/pushframe/stream?channels=${encodeURIComponent(channels)}`);
    const sse = await SseClient.open(`${server.url}/pushframe/events?channels=${encodeURIComponent(channels)}`);
    await stream.waitForFrame('o');
    await sse.waitForEvent('ready');
    const start = stream.cursor;

    for (const name of NAMES) {
      for (let n = 0; n < 4; n++) {
        const r = await publish(server, name, n === 3 ? PAYLOAD_TEXT : JSON.stringify({ n, name }));
        expect(r.status).toBe(202);
      }
    }
    const total = NAMES.length * 4;
    await stream.waitForMessages(total);
    await sse.waitForMessages(total);

    // Stream: the frames run as script deliver every payload intact, on its channel.
    const delivered = framesData(runFrames(stream.body));
    expect(delivered.map((d) => d.channel)).toEqual(NAMES.flatMap((n) => [n, n, n, n]));
    const protoPayloads = delivered.filter((_, i) => i % 4 === 3);
    for (const d of protoPayloads) expectOrdinary(d.data);
    expect(stream.body).toContain('<script>p.j(');
    // The cursor kept the bridge's way names every channel correctly.
    for (const name of NAMES) expect(stream.cursor.split(',').some((e) => e.startsWith(name + '@'))).toBe(true);

    // SSE: JSON on the wire, parsed as JSON.
    expect(sse.messages.map((m) => m.channel)).toEqual(NAMES.flatMap((n) => [n, n, n, n]));
    for (const m of sse.messages.filter((_, i) => i % 4 === 3)) expectOrdinary(m.data);

    // JSONP poll from the stream's first cursor: the answer runs as a script.
    const jsonp = await get(`${server.url}/pushframe/poll?channels=${encodeURIComponent(channels)}&since=${encodeURIComponent(start)}&callback=Pushframe._poll.f1_a_2`);
    expect(jsonp.status).toBe(200);
    let answer: { messages: unknown[][]; cursor: string; resets: string[] } | null = null;
    vm.runInNewContext(jsonp.body, { Pushframe: { _poll: { f1_a_2: (a: typeof answer) => (answer = a) } } });
    const a = answer as unknown as { messages: unknown[][]; cursor: string; resets: string[] };
    expect(a.resets).toEqual([]);
    expect(a.messages.map((m) => m[0])).toEqual(NAMES.flatMap((n) => [n, n, n, n]));
    for (const m of a.messages.filter((_, i) => i % 4 === 3)) {
      // The bridge reads a fourth element as the data's JSON text.
      expect(m).toHaveLength(4);
      expectOrdinary(JSON.parse(m[3] as string));
    }

    // Plain JSON poll: the data as it is.
    const json = await get(`${server.url}/pushframe/poll?channels=${encodeURIComponent(channels)}&since=${encodeURIComponent(start)}`);
    const plain = JSON.parse(json.body) as { messages: unknown[][] };
    for (const m of plain.messages.filter((_, i) => i % 4 === 3)) {
      expect(m).toHaveLength(3);
      expectOrdinary(m[2]);
    }

    // Resuming from the stream's cursor (which lists these names) finds nothing new:
    // its entries were read as ordinary channels.
    const resumed = await StreamClient.open(`${server.url}/pushframe/stream?channels=${encodeURIComponent(channels)}&since=${encodeURIComponent(stream.cursor)}`);
    await resumed.waitForFrame('o');
    await new Promise((r) => setTimeout(r, 200));
    expect(resumed.frames.map((f) => f.type)).toEqual(['o']);
    resumed.close();
    stream.close();
    sse.close();
  }, 40_000);
});
