import type { Broker, HistoryLimits } from '../../src/brokers';
import { EPOCH, compareIds, type Cursor, type Message } from '../../src/protocol';

/**
 * The broker contract: every broker passes these cases (faye's engine spec is the
 * model). Cases that need several brokers on one backend ("distributed") run only for
 * brokers that have a `peer`.
 */
export interface BrokerHarness {
  /** A broker on a fresh, empty history. */
  create(limits?: Partial<HistoryLimits>): Promise<Broker>;
  /** Another node on the same backend as `broker` (distributed brokers only). */
  peer?(broker: Broker): Promise<Broker>;
}

export const LIMITS: HistoryLimits = { maxCount: 100, maxAgeMs: 60_000 };

/** A sink that records what a broker delivers. */
export class Collector {
  readonly got: Message[] = [];
  readonly sink = (msg: Message): void => {
    this.got.push(msg);
  };

  on(channel: string): Message[] {
    return this.got.filter((m) => m.channel === channel);
  }

  /** Waits (bounded) until `pred` holds. */
  async until(pred: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.got.map((m) => [m.channel, m.id]))}`);
      await sleep(5);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function cursorAt(epoch: string, base: string, channels: Record<string, string> = {}): Cursor {
  return { epoch, base, channels: new Map(Object.entries(channels)) };
}

/** Lets deliveries that are already on their way arrive (pub/sub is asynchronous). */
export const SETTLE_MS = 100;

export function describeBroker(name: string, harness: BrokerHarness): void {
  describe(`broker contract: ${name}`, () => {
    const open: Broker[] = [];
    const make = async (limits?: Partial<HistoryLimits>) => {
      const b = await harness.create(limits);
      open.push(b);
      return b;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    test('the epoch is a short token, stable across calls', async () => {
      const b = await make();
      const e = await b.epoch();
      expect(e).toMatch(EPOCH);
      expect(await b.epoch()).toBe(e);
      expect(b.status().ready).toBe(true);
    });

    test('ids are strictly increasing per channel, also when channels interleave and publishes overlap', async () => {
      const b = await make();
      const ids: Record<string, string[]> = { a: [], 'b/c': [] };
      for (let i = 0; i < 30; i++) {
        ids.a.push(await b.publish('a', String(i)));
        ids['b/c'].push(await b.publish('b/c', String(i)));
      }
      // Concurrent publishes on one channel: ids follow the order they resolve in Redis
      // or memory; sorted they must still be distinct and increasing.
      const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => b.publish('a', String(i))));
      for (const list of [ids.a, ids['b/c']]) {
        for (let i = 1; i < list.length; i++) expect(compareIds(list[i], list[i - 1])).toBeGreaterThan(0);
      }
      expect(new Set(burst).size).toBe(30);
      for (const id of burst) expect(compareIds(id, ids.a[ids.a.length - 1])).toBeGreaterThan(0);
      // History holds them in id order.
      const h = await b.history('a', cursorAt(await b.epoch(), '0'));
      const hist = h.messages.map((m) => m.id);
      expect(hist.length).toBe(60);
      for (let i = 1; i < hist.length; i++) expect(compareIds(hist[i], hist[i - 1])).toBeGreaterThan(0);
    });

    test('publish delivers to the sink, once, for watched channels and * / ** patterns', async () => {
      const b = await make();
      const c = new Collector();
      b.setSink(c.sink);
      for (const p of ['x/exact', 'x/one/*', 'x/deep/**', '*']) b.watch(p);
      // The hub asks for a position before relying on live delivery (see Hub.subscribe).
      await b.position();
      const want = ['x/exact', 'x/one/a', 'x/deep/a', 'x/deep/a/b/c', 'top'];
      const ids = new Map<string, string>();
      for (const ch of want) ids.set(ch, await b.publish(ch, JSON.stringify(ch)));
      await c.until(() => want.every((ch) => c.on(ch).length > 0), 'every matching message');
      await sleep(SETTLE_MS);
      for (const ch of want) {
        expect(c.on(ch)).toHaveLength(1);
        expect(c.on(ch)[0]).toMatchObject({ channel: ch, id: ids.get(ch), json: JSON.stringify(ch) });
      }
    });

    test('a message matching several watched patterns reaches the sink once', async () => {
      const b = await make();
      const c = new Collector();
      b.setSink(c.sink);
      for (const p of ['m/a', 'm/*', 'm/**', '**']) b.watch(p);
      await b.position();
      for (let i = 0; i < 5; i++) await b.publish('m/a', String(i));
      await c.until(() => c.on('m/a').length >= 5, '5 messages');
      await sleep(SETTLE_MS);
      expect(c.on('m/a').map((m) => m.json)).toEqual(['0', '1', '2', '3', '4']);
    });

    test('the keep-latest key travels with the message', async () => {
      const b = await make();
      const c = new Collector();
      b.setSink(c.sink);
      b.watch('k');
      await b.position();
      await b.publish('k', '1', { key: 'price eur/usd ü' });
      await b.publish('k', '2');
      await c.until(() => c.on('k').length >= 2, '2 messages');
      expect(c.on('k')[0].key).toBe('price eur/usd ü');
      expect(c.on('k')[1].key).toBeUndefined();
      const h = await b.history('k', cursorAt(await b.epoch(), '0'));
      expect(h.messages.map((m) => m.key)).toEqual(['price eur/usd ü', undefined]);
    });

    test('history returns what the cursor has not seen, using per-channel entries past the base', async () => {
      const b = await make();
      const epoch = await b.epoch();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await b.publish('h', JSON.stringify({ i })));
      const after2 = await b.history('h', cursorAt(epoch, ids[1]));
      expect(after2.resets).toEqual([]);
      expect(after2.messages.map((m) => m.json)).toEqual(['{"i":2}', '{"i":3}', '{"i":4}']);
      // A channel entry newer than the base wins.
      const entry = await b.history('h', cursorAt(epoch, ids[0], { h: ids[3] }));
      expect(entry.messages.map((m) => m.id)).toEqual([ids[4]]);
      // Up to date: nothing.
      expect(await b.history('h', cursorAt(epoch, ids[4]))).toEqual({ messages: [], resets: [] });
      // A channel nobody published on: nothing, no reset.
      expect(await b.history('never', cursorAt(epoch, '0'))).toEqual({ messages: [], resets: [] });
    });

    test('wildcard history enumerates the channels a pattern matches', async () => {
      const b = await make();
      const epoch = await b.epoch();
      const start = await b.position();
      for (const ch of ['w/a', 'w/b', 'w/b/c', 'w2/x', 'w']) await b.publish(ch, JSON.stringify(ch));
      const channels = async (p: string) =>
        (await b.history(p, cursorAt(epoch, start))).messages.map((m) => m.channel).sort();
      expect(await channels('w/*')).toEqual(['w/a', 'w/b']);
      expect(await channels('w/**')).toEqual(['w/a', 'w/b', 'w/b/c']);
      expect(await channels('w/b/*')).toEqual(['w/b/c']);
      expect((await channels('**')).filter((c) => c.startsWith('w'))).toEqual(['w', 'w/a', 'w/b', 'w/b/c', 'w2/x']);
      expect((await channels('*')).filter((c) => c.startsWith('w'))).toEqual(['w']);
    });

    test('a cursor behind what count trimming kept gets a reset, not a silent gap', async () => {
      const b = await make({ maxCount: 3 });
      const epoch = await b.epoch();
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push(await b.publish('t', String(i)));
      // Saw 0: 1 and 2 are gone.
      expect(await b.history('t', cursorAt(epoch, ids[0]))).toEqual({ messages: [], resets: ['t'] });
      // Saw 2: 3, 4, 5 are all still there.
      const ok = await b.history('t', cursorAt(epoch, ids[2]));
      expect(ok.resets).toEqual([]);
      expect(ok.messages.map((m) => m.json)).toEqual(['3', '4', '5']);
      // Wildcards report the channel.
      expect((await b.history('*', cursorAt(epoch, ids[0]))).resets).toContain('t');
    });

    test('messages older than maxAgeMs leave history; a cursor that missed them gets a reset', async () => {
      const b = await make({ maxAgeMs: 1000 });
      const epoch = await b.epoch();
      const before = await b.position();
      const old = await b.publish('age', '"old"');
      await sleep(1200);
      const fresh = await b.publish('age', '"fresh"');
      expect(await b.history('age', cursorAt(epoch, before))).toEqual({ messages: [], resets: ['age'] });
      // A client that saw the expired one lost nothing.
      const h = await b.history('age', cursorAt(epoch, old));
      expect(h.resets).toEqual([]);
      expect(h.messages.map((m) => m.id)).toEqual([fresh]);
    });

    test('replay conflates keyed messages: only the newest per key, order kept', async () => {
      const b = await make();
      const epoch = await b.epoch();
      const base = await b.position();
      await b.publish('q', '1', { key: 'eur' });
      await b.publish('q', '2', { key: 'usd' });
      await b.publish('q', '3');
      await b.publish('q', '4', { key: 'eur' });
      await b.publish('q', '5');
      await b.publish('q2', '6', { key: 'eur' });
      const h = await b.history('q', cursorAt(epoch, base));
      expect(h.messages.map((m) => m.json)).toEqual(['2', '3', '4', '5']);
      // Per channel: the same key on another channel is another value.
      const star = await b.history('*', cursorAt(epoch, base));
      expect(star.messages.filter((m) => m.channel === 'q2').map((m) => m.json)).toEqual(['6']);
    });

    test('every message published after position() has a greater id, on any channel', async () => {
      const b = await make();
      for (let round = 0; round < 20; round++) {
        const p = await b.position();
        const ids = await Promise.all([b.publish('p/a', '1'), b.publish(`p/new${round}`, '2'), b.publish('p/a', '3')]);
        for (const id of ids) expect(compareIds(id, p)).toBeGreaterThan(0);
      }
    });

    test('a cursor at position() replays what was published after it, not what came well before', async () => {
      const b = await make();
      const epoch = await b.epoch();
      await b.publish('pos', '"before"');
      // A position may lag a little (Redis: up to the current millisecond), never lead.
      await sleep(5);
      const p = await b.position();
      const after = await b.publish('pos', '"after"');
      const h = await b.history('pos', cursorAt(epoch, p));
      expect(h.messages.map((m) => m.id)).toEqual([after]);
    });

    test('a note goes to the other processes only: a node does not hear its own', async () => {
      const a = await make();
      const heard: string[] = [];
      a.setNoteSink((note) => heard.push(note));
      await a.position();
      a.notify('replace x');
      await a.position();
      await sleep(SETTLE_MS);
      expect(heard).toEqual([]);
    });

    if (!harness.peer) return;
    const peer = async (b: Broker) => {
      const other = await (harness.peer as (b: Broker) => Promise<Broker>)(b);
      open.push(other);
      return other;
    };

    describe('distributed', () => {
      test('a note from one node reaches every other node once, and not its sender', async () => {
        const a = await make();
        const b = await peer(a);
        const c = await peer(a);
        const heard = new Map<Broker, string[]>([a, b, c].map((n) => [n, []]));
        for (const n of [a, b, c]) n.setNoteSink((note) => heard.get(n)!.push(note));
        // Each node has spoken to the backend since: its note subscription is live.
        await Promise.all([a, b, c].map((n) => n.position()));
        a.notify('replace from-a');
        b.notify('replace from-b');
        const deadline = Date.now() + 3000;
        while ([a, b, c].some((n) => heard.get(n)!.length < 1 + (n === c ? 1 : 0)) && Date.now() < deadline) await sleep(5);
        await sleep(SETTLE_MS);
        expect({ a: heard.get(a), b: heard.get(b), c: [...heard.get(c)!].sort() }).toEqual({
          a: ['replace from-b'],
          b: ['replace from-a'],
          c: ['replace from-a', 'replace from-b'],
        });
      });


      test('two nodes share the epoch, the ids and the history', async () => {
        const a = await make();
        const b = await peer(a);
        expect(await b.epoch()).toBe(await a.epoch());
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push(await (i % 2 ? a : b).publish('d', String(i)));
        for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i], ids[i - 1])).toBeGreaterThan(0);
        const h = await a.history('d', cursorAt(await a.epoch(), '0'));
        expect(h.messages.map((m) => m.json)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
        // position() on one node bounds ids assigned through the other.
        const p = await b.position();
        expect(compareIds(await a.publish('d', '10'), p)).toBeGreaterThan(0);
      });

      test('a message published on one node reaches every watching node once, the publisher included', async () => {
        const a = await make();
        const b = await peer(a);
        const ca = new Collector();
        const cb = new Collector();
        a.setSink(ca.sink);
        b.setSink(cb.sink);
        a.watch('f/**');
        b.watch('f/x');
        b.watch('f/*');
        await Promise.all([a.position(), b.position()]);
        for (let i = 0; i < 10; i++) await a.publish('f/x', String(i));
        await b.publish('f/y/z', '"deep"');
        await ca.until(() => ca.got.length >= 11, '11 messages on a');
        await cb.until(() => cb.got.length >= 10, '10 messages on b');
        await sleep(SETTLE_MS);
        expect(ca.got.map((m) => m.json)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '"deep"']);
        // b watches f/x and f/*: f/y/z matches neither and is filtered out.
        expect(cb.got.map((m) => m.json)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      });

      test('interest is local: a node stops receiving when its last watcher leaves', async () => {
        const a = await make();
        const b = await peer(a);
        const cb = new Collector();
        b.setSink(cb.sink);
        b.watch('u/*');
        b.watch('u/*');
        await b.position();
        await a.publish('u/1', '1');
        await cb.until(() => cb.got.length === 1, 'the first message');
        b.unwatch('u/*');
        await b.position();
        await a.publish('u/1', '2');
        await cb.until(() => cb.got.length === 2, 'the second message (one watcher left)');
        b.unwatch('u/*');
        await b.position();
        await a.publish('u/1', '3');
        await sleep(SETTLE_MS);
        expect(cb.got.map((m) => m.json)).toEqual(['1', '2']);
      });
    });
  });
}
