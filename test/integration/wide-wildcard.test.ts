import type { PushframeServer } from '../../src';
import { get } from '../helpers/http';
import { startRedis, type TestRedis } from '../helpers/redis';
import { startTestServer } from '../helpers/server';
import { SseClient } from '../helpers/sse-client';
import { StreamClient } from '../helpers/stream-client';

/**
 * A dashboard over many channels: one wildcard subscriber while 10 000 channels are
 * published, over real sockets, with the server's default maxStreamBytes (so streams
 * recycle several times) on the memory and the Redis broker. Every transport resumes
 * with its own cursor (stream `since`, poll `since`, SSE `Last-Event-ID`): nothing lost,
 * nothing repeated, no reset, and every resume request stays small.
 */

const CHANNELS = 10_000;
const ROUNDS = 1; // 10 000 messages, ~1 MB of frames: about four 256 KiB streams
const BATCH = 100; // publishes in flight at once
const PAD = 'x'.repeat(60);

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

interface Outcome {
  sessions: number;
  resets: number;
  counts: Map<string, number>;
  /** Longest resume request line (path + query) and header value, in bytes. */
  longestRequest: number;
  longestCursor: number;
}

function outcome(): Outcome {
  return { sessions: 0, resets: 0, counts: new Map(), longestRequest: 0, longestCursor: 0 };
}

function count(o: Outcome, channel: string, id: string): void {
  const key = channel + '@' + id;
  o.counts.set(key, (o.counts.get(key) ?? 0) + 1);
}

/** Forever-frame sessions, each until the server recycles it; then resume with `since`. */
async function streamClient(base: string, o: Outcome, done: (pending?: number) => boolean, ready: () => void): Promise<void> {
  let cursor = '';
  while (!done()) {
    const path = `/pushframe/stream?channels=${encodeURIComponent('px/*')}` + (cursor ? `&since=${encodeURIComponent(cursor)}` : '');
    o.longestRequest = Math.max(o.longestRequest, path.length);
    o.longestCursor = Math.max(o.longestCursor, cursor.length);
    const c = await StreamClient.open(base + path);
    o.sessions++;
    await c.waitForFrame('o', 30_000);
    ready();
    await c.waitFor((x) => x.ended || x.frames.some((f) => f.type === 'r') || done(x.messages.length), 60_000, 'a recycle');
    c.close();
    if (c.frames.some((f) => f.type === 'e')) throw new Error('stream error: ' + JSON.stringify(c.frames.find((f) => f.type === 'e')));
    o.resets += c.frames.filter((f) => f.type === 'x').length;
    for (const m of c.messages) count(o, m.channel, m.id);
    cursor = c.cursor;
  }
}

/** Long-poll answers, each resumed with the answer's cursor. */
async function pollClient(base: string, o: Outcome, done: () => boolean, ready: () => void): Promise<void> {
  let cursor = '';
  while (!done()) {
    const path = `/pushframe/poll?channels=${encodeURIComponent('px/*')}` + (cursor ? `&since=${encodeURIComponent(cursor)}` : '');
    o.longestRequest = Math.max(o.longestRequest, path.length);
    o.longestCursor = Math.max(o.longestCursor, cursor.length);
    const r = await get(base + path, {}, 1 << 26);
    if (r.status !== 200) throw new Error(`poll answered ${r.status}: ${r.body.slice(0, 200)}`);
    o.sessions++;
    ready();
    const a = JSON.parse(r.body) as { cursor: string; messages: [string, string, unknown][]; resets: string[] };
    o.resets += a.resets.length;
    for (const [channel, id] of a.messages) count(o, channel, id);
    cursor = a.cursor;
  }
}

/** Event streams resumed the way EventSource does: `Last-Event-ID` = the last `id:` seen. */
async function sseClient(base: string, o: Outcome, done: (pending?: number) => boolean, ready: () => void): Promise<void> {
  let last = '';
  while (!done()) {
    const path = `/pushframe/events?channels=${encodeURIComponent('px/*')}`;
    o.longestRequest = Math.max(o.longestRequest, path.length + last.length);
    o.longestCursor = Math.max(o.longestCursor, last.length);
    const c = await SseClient.open(base + path, last ? { 'Last-Event-ID': last } : {});
    o.sessions++;
    await c.waitForEvent('ready', 30_000);
    ready();
    await c.waitFor((x) => x.ended || x.events.some((e) => e.event === 'reconnect') || done(x.messages.length), 60_000, 'a recycle');
    c.close();
    if (c.events.some((e) => e.event === 'fail')) throw new Error('sse fail event');
    o.resets += c.events.filter((e) => e.event === 'reset').length;
    for (const m of c.messages) count(o, m.channel, m.id);
    last = c.lastEventId;
  }
}

describe.each([
  ['memory', (): Promise<PushframeServer> => startTestServer()],
  ['redis', (): Promise<PushframeServer> => startTestServer({ broker: redis.url })],
])('a px/* dashboard over %s with 10 000 channels (default maxStreamBytes)', (name, start) => {
  it('stream, poll and SSE clients resume across recycles: every message once, no reset, short cursors', async () => {
    const server = await start();
    try {
      const results = { stream: outcome(), poll: outcome(), sse: outcome() };
      const published: { channel: string; id: string }[] = [];
      let finished = false;
      // Each client stops once it has everything published (or after a bounded time).
      const deadline = Date.now() + 90_000;
      // `pending`: messages of the session under way, not yet counted.
      const doneFor = (o: Outcome) => (pending = 0): boolean =>
        Date.now() > deadline || (finished && o.counts.size + pending >= published.length);
      const readies: Promise<void>[] = [];
      const runs: Promise<void>[] = [];
      for (const [kind, client] of [
        ['stream', streamClient],
        ['poll', pollClient],
        ['sse', sseClient],
      ] as const) {
        let ready!: () => void;
        readies.push(new Promise<void>((r) => (ready = r)));
        runs.push(client(server.url, results[kind], doneFor(results[kind]), ready));
      }
      // Publish once every client holds a position, in bounded batches.
      await Promise.all(readies);
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < CHANNELS; i += BATCH) {
          const batch = [];
          for (let j = i; j < Math.min(CHANNELS, i + BATCH); j++) {
            const channel = `px/s${j}`;
            batch.push(server.hub.publish(channel, { n: round * CHANNELS + j, pad: PAD }).then((id) => published.push({ channel, id })));
          }
          await Promise.all(batch);
          // In-process publishes resolve at once: let sockets and flushes move between batches.
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      finished = true;
      await Promise.all(runs);
      for (const [kind, o] of Object.entries(results)) {
        const repeated = [...o.counts.values()].filter((n) => n > 1).length;
        const missing = published.filter((p) => !o.counts.has(p.channel + '@' + p.id)).length;
        process.stdout.write(
          `[wide ${name}] ${kind}: ${o.counts.size}/${published.length} messages, ${o.sessions} sessions, ` +
            `${o.resets} resets, longest resume cursor ${o.longestCursor} chars, longest request ${o.longestRequest} bytes\n`,
        );
        expect({ kind, missing, repeated, resets: o.resets }).toEqual({ kind, missing: 0, repeated: 0, resets: 0 });
        expect(o.longestCursor).toBeLessThan(4096);
      }
      // ~1 MB of frames: the 256 KiB streams recycled at least three times.
      expect(results.stream.sessions).toBeGreaterThanOrEqual(4);
      expect(results.sse.sessions).toBeGreaterThanOrEqual(4);
      expect(results.poll.sessions).toBeGreaterThanOrEqual(2);
    } finally {
      await server.close();
    }
  }, 150_000);
});
