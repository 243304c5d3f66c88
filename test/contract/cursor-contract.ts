import { EventEmitter } from 'node:events';
import { DEFAULTS } from '../../src/config';
import type { Broker } from '../../src/brokers';
import { Hub, type OpenInfo, type Subscriber } from '../../src/hub';
import { CHECKPOINT_ENTRIES, compareIds, parseCursor, type Cursor, type Message } from '../../src/protocol';
import { LongPoll, StreamConnection, Tally, sseFormat, type PollAnswer, type Sink } from '../../src/transports';
import { sleep, type BrokerHarness } from './broker-contract';

/**
 * Watermarks and short cursors, on every broker: what each live message `covers` and
 * what `watermark()` answers must hold against the real interleaving of publishes (also
 * from a second node where the broker has one), and a wildcard client over many
 * channels must resume across many recycles with a cursor that stays short.
 */

const HUB_OPTIONS = { maxMessageBytes: 64 * 1024 };

/** Sorts ids numerically, part by part (memory `N`, Redis `ms-seq`). */
const byId = (a: string, b: string): number => compareIds(a, b);

class Recorder implements Subscriber {
  info: OpenInfo | null = null;
  readonly got: Message[] = [];
  open(info: OpenInfo): void {
    this.info = info;
  }
  deliver(msg: Message): void {
    this.got.push(msg);
  }
}

/** Publishes `total` messages over `channels` channels of `prefix/`, `batch` at a time, round-robin over the nodes. */
/**
 * Messages per millisecond at most where a test bounds cursor lengths. A Redis cursor
 * keeps, as entries, the channels written in the millisecond its watermark was read in
 * (docs/protocol.md, "Short cursors"): how many those are depends on how fast the
 * publisher goes, and an unpaced flood on a fast machine put 100 channels in one.
 */
const PACED_BATCH = 20;

async function flood(
  nodes: Hub[],
  prefix: string,
  channels: number,
  total: number,
  batch: number,
  afterBatch: () => void = () => undefined,
  /** Milliseconds between batches; 0: only a turn of the event loop. */
  pauseMs = 0,
): Promise<{ channel: string; id: string }[]> {
  const published: { channel: string; id: string }[] = [];
  for (let i = 0; i < total; i += batch) {
    const round = [];
    for (let j = i; j < Math.min(total, i + batch); j++) {
      const channel = `${prefix}/c${j % channels}`;
      round.push(nodes[j % nodes.length].publish(channel, { n: j }).then((id) => published.push({ channel, id })));
    }
    await Promise.all(round);
    afterBatch();
    // Let the event loop turn (flushes, polls, watermarks) between batches.
    await new Promise((r) => (pauseMs > 0 ? setTimeout(r, pauseMs) : setImmediate(r)));
  }
  return published;
}

/** A response body in memory: the client reads it when the stream has ended. */
class MemorySink extends EventEmitter implements Sink {
  writableLength = 0;
  destroyed = false;
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const ev: SseEvent = { event: 'message', data: '' };
    let any = false;
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) ev.id = line.slice(4);
      else if (line.startsWith('event: ')) ev.event = line.slice(7);
      else if (line.startsWith('data: ')) ev.data = line.slice(6);
      else continue;
      any = true;
    }
    if (any && ev.data !== '') out.push(ev);
  }
  return out;
}

export function describeCursors(name: string, harness: BrokerHarness): void {
  describe(`watermarks and short cursors: ${name}`, () => {
    const open: Broker[] = [];
    const make = async (): Promise<Broker> => {
      const b = await harness.create({ maxCount: 1000 });
      open.push(b);
      return b;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    /** One hub, plus a second node on the same backend when the broker has peers. */
    async function nodes(): Promise<Hub[]> {
      const first = await make();
      const hubs = [new Hub(first, HUB_OPTIONS)];
      if (harness.peer) {
        const second = await harness.peer(first);
        open.push(second);
        hubs.push(new Hub(second, HUB_OPTIONS));
      }
      return hubs;
    }

    test('each live message covers only messages delivered before it; watermark() covers what was delivered when it resolves', async () => {
      const hubs = await nodes();
      const rec = new Recorder();
      await hubs[0].subscribe(rec, ['w/*']);
      const watermark = rec.info!.watermark!;
      expect(watermark).toBeInstanceOf(Function);
      const marks: { w: string; delivered: number }[] = [];
      let flooding = true;
      const asking = (async () => {
        while (flooding) {
          const w = await watermark();
          marks.push({ w, delivered: rec.got.length });
          await sleep(1);
        }
      })();
      const early: Promise<void>[] = [];
      const published = await flood(hubs, 'w', 300, 3000, 60, () => {
        early.push(watermark().then((w) => void marks.push({ w, delivered: rec.got.length })));
      });
      await Promise.all(early);
      flooding = false;
      await asking;
      const deadline = Date.now() + 10_000;
      while (rec.got.length < published.length && Date.now() < deadline) await sleep(10);
      expect(rec.got.length).toBe(published.length);

      // Where each published message was delivered.
      const at = new Map<string, number>();
      rec.got.forEach((m, i) => at.set(m.channel + '@' + m.id, i));
      const sorted = [...published].sort((a, b) => byId(a.id, b.id));
      // The highest `covers` among the first k deliveries, for every k.
      const covered: (string | null)[] = [];
      let best: string | null = null;
      for (const m of rec.got) {
        expect(m.covers).toBeDefined(); // every live message carries one
        if (best === null || byId(m.covers as string, best) > 0) best = m.covers as string;
        covered.push(best);
      }
      // A message is covered from the first delivery whose `covers` reaches its id; it
      // must have been delivered before that one.
      let k = 0;
      let checked = 0;
      for (const p of sorted) {
        while (k < covered.length && (covered[k] === null || byId(covered[k] as string, p.id) < 0)) k++;
        if (k === covered.length) break;
        if ((at.get(p.channel + '@' + p.id) as number) > k) {
          throw new Error(`${p.channel}@${p.id} was delivered after a message that covers it`);
        }
        checked++;
      }
      expect(checked).toBeGreaterThan(published.length / 2);

      // watermark(): every message up to it had been delivered when it resolved.
      expect(marks.length).toBeGreaterThan(3);
      // latest[i]: the last delivery position among the i+1 lowest ids.
      const latest: number[] = [];
      for (const p of sorted) latest.push(Math.max(latest[latest.length - 1] ?? -1, at.get(p.channel + '@' + p.id) as number));
      for (const { w, delivered } of marks) {
        let lo = 0;
        let hi = sorted.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (byId(sorted[mid].id, w) <= 0) lo = mid + 1;
          else hi = mid;
        }
        if (lo > 0 && latest[lo - 1] >= delivered) {
          throw new Error(`watermark ${w} resolved after ${delivered} deliveries, but a message up to it came later`);
        }
      }
      // And it is fresh: a little after the flood it covers every message.
      await sleep(20);
      const last = await watermark();
      expect(byId(last, sorted[sorted.length - 1].id)).toBeGreaterThanOrEqual(0);
      hubs[0].unsubscribe(rec);
    }, 30_000);

    test('checkpoints inside a long resume backlog each resume exactly the rest of it', async () => {
      const hubs = await nodes();
      const [hub] = hubs;
      const first = new Recorder();
      await hub.subscribe(first, ['m/*']);
      const start = first.info!.cursor;
      hub.unsubscribe(first);
      await flood(hubs, 'm', 400, 1200, 100);
      const resumed = new Recorder();
      await hub.subscribe(resumed, ['m/*'], parseCursor(start));
      hub.unsubscribe(resumed);
      const info = resumed.info!;
      const keys = info.backlog.map((m) => m.channel + '@' + m.id);
      expect(new Set(keys).size).toBe(1200);
      const marks = info.marks ?? [];
      expect(marks.length).toBeGreaterThan(10);
      for (const mark of marks) expect(entries(mark.cursor)).toBeLessThan(CHECKPOINT_ENTRIES * 2);
      // Resuming from a sample of them (each resume reads the whole backlog's history).
      const sample = [marks[0], marks[Math.floor(marks.length / 3)], marks[Math.floor((2 * marks.length) / 3)], marks[marks.length - 1]];
      for (const mark of sample) {
        const again = new Recorder();
        await hub.subscribe(again, ['m/*'], parseCursor(mark.cursor));
        hub.unsubscribe(again);
        expect(again.info!.resets).toEqual([]);
        const rest = again.info!.backlog.map((m) => m.channel + '@' + m.id).sort();
        expect(rest).toEqual(keys.slice(mark.after + 1).sort());
      }
    }, 30_000);

    test('an SSE client over 1000 channels resumes across many recycles with a short cursor: every message once, no reset', async () => {
      const hubs = await nodes();
      const [hub] = hubs;
      const got = new Map<string, number>();
      let cursor: string | undefined;
      let sessions = 0;
      let longest = 0;
      let resets = 0;
      const options = { heartbeatMs: 60_000, maxStreamBytes: 64 * 1024, maxBufferedBytes: 1 << 30 };
      let publishing = true;
      let published: { channel: string; id: string }[] = [];
      // Publishing starts once the client has a position (its first subscription is open).
      let started!: () => void;
      const publisher = new Promise<void>((r) => (started = r))
        .then(() => flood(hubs, 's', 1000, 3000, PACED_BATCH, undefined, 1))
        .then((p) => {
          published = p;
          publishing = false;
        });
      // Sessions until everything published has arrived (bounded in time).
      const deadline = Date.now() + 40_000;
      while ((publishing || got.size < published.length) && Date.now() < deadline) {
        const sink = new MemorySink();
        let ended = false;
        const conn = new StreamConnection(sink, sseFormat(60_000), options, new Tally('sse'), () => {
          ended = true;
        });
        sessions++;
        if (cursor !== undefined) longest = Math.max(longest, cursor.length);
        await hub.subscribe(conn, ['s/*'], cursor === undefined ? undefined : parseCursor(cursor));
        started();
        // Until the stream recycles itself; once publishing is over, cut it ourselves.
        const idleSince = Date.now();
        while (!ended && (publishing || Date.now() - idleSince < 300)) await sleep(5);
        if (!ended) conn.close('client_gone');
        hub.unsubscribe(conn);
        for (const ev of parseSse(sink.text)) {
          if (ev.id !== undefined) cursor = ev.id; // what EventSource sends as Last-Event-ID
          if (ev.event === 'reset') resets++;
          if (ev.event !== 'message') continue;
          const m = JSON.parse(ev.data) as { channel: string; id: string };
          const key = m.channel + '@' + m.id;
          got.set(key, (got.get(key) ?? 0) + 1);
        }
      }
      await publisher;
      expect(resets).toBe(0);
      expect(got.size).toBe(published.length);
      for (const p of published) expect(got.get(p.channel + '@' + p.id)).toBe(1);
      expect(sessions).toBeGreaterThanOrEqual(4);
      // A base plus at most about CHECKPOINT_ENTRIES channels, however many were seen.
      expect(entries(cursor as string)).toBeLessThan(CHECKPOINT_ENTRIES * 2);
      expect(longest).toBeLessThan(1500);
      process.stdout.write(`[cursor ${name}] sse: ${got.size} messages on 1000 channels, ${sessions} sessions, longest resume cursor ${longest} chars\n`);
    }, 60_000);

    test('a long-poll client over 1000 channels gets a short cursor in every answer: every message once, no reset', async () => {
      const hubs = await nodes();
      const [hub] = hubs;
      const got = new Map<string, number>();
      let cursor: Cursor | undefined;
      let longest = 0;
      let polls = 0;
      let resets = 0;
      let publishing = true;
      let published: { channel: string; id: string }[] = [];
      // Publishing starts once the client has a position (its first subscription is open).
      let started!: () => void;
      const publisher = new Promise<void>((r) => (started = r))
        .then(() => flood(hubs, 'l', 1000, 3000, PACED_BATCH, undefined, 1))
        .then((p) => {
          published = p;
          publishing = false;
        });
      const deadline = Date.now() + 40_000;
      while ((publishing || got.size < published.length) && Date.now() < deadline) {
        const answer = await new Promise<PollAnswer>((resolve, reject) => {
          const poll: LongPoll = new LongPoll({ timeoutMs: 200, immediate: cursor === undefined, since: '', maxBytes: DEFAULTS.maxBufferedBytes }, new Tally('longpoll'), (a) => {
            hub.unsubscribe(poll);
            resolve(a);
          });
          hub.subscribe(poll, ['l/*'], cursor).catch(reject);
        });
        started();
        polls++;
        longest = Math.max(longest, answer.cursor.length);
        cursor = parseCursor(answer.cursor);
        resets += answer.resets.length;
        for (const m of answer.messages) {
          const key = m.channel + '@' + m.id;
          got.set(key, (got.get(key) ?? 0) + 1);
        }
      }
      await publisher;
      expect(resets).toBe(0);
      expect(got.size).toBe(published.length);
      const missing = published.filter((p) => got.get(p.channel + '@' + p.id) !== 1);
      if (missing.length) process.stdout.write('MISSING ' + JSON.stringify(missing.slice(0, 5)) + ' last cursor ' + (cursor ? formatCursorOf(cursor) : '') + '\n');
      for (const p of published) expect(got.get(p.channel + '@' + p.id)).toBe(1);
      expect(polls).toBeGreaterThan(3);
      expect(longest).toBeLessThan(1500);
      process.stdout.write(`[cursor ${name}] poll: ${got.size} messages on 1000 channels, ${polls} polls, longest cursor ${longest} chars\n`);
    }, 60_000);
  });
}

function formatCursorOf(c: Cursor): string {
  return c.epoch + '~' + c.base + ' +' + c.channels.size;
}

function entries(cursor: string): number {
  return cursor.split(',').length - 1;
}
