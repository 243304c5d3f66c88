import { MemoryBroker, conflate, type Backlog, type Broker } from '../../src/brokers';
import { Hub, SUBSCRIBED, type OpenInfo, type Subscriber } from '../../src/hub';
import { CHECKPOINT_ENTRIES, entryCount, parseCursor, type Message } from '../../src/protocol';

class Recorder implements Subscriber {
  info: OpenInfo | null = null;
  got: Message[] = [];
  open(info: OpenInfo): void {
    // The cursor object handed over is the one the text names, every time.
    expect(info.held).toEqual(parseCursor(info.cursor));
    this.info = info;
    this.got.push(...info.backlog);
  }
  deliver(msg: Message): void {
    this.got.push(msg);
  }
  get data(): unknown[] {
    return this.got.map((m) => JSON.parse(m.json));
  }
}

/**
 * `later`: the memory broker without its immediate reads, so that the hub awaits each
 * read as it does over Redis or a cluster's primary, and publishing can race them.
 */
function setup({ later = false } = {}, maxCount = 1000, maxAgeMs = 60_000, now: () => number = Date.now) {
  const broker = new MemoryBroker({ maxCount, maxAgeMs }, now);
  if (later) Object.defineProperty(broker, 'immediate', { value: undefined });
  const hub = new Hub(broker, { maxMessageBytes: 1024 });
  return { broker, hub };
}

const READS: [string, boolean][] = [
  ['answer at once', false],
  ['answer later', true],
];

describe('hub fan-out', () => {
  it('delivers to exact, * and ** subscribers, once each', async () => {
    const { hub, broker } = setup();
    const exact = new Recorder();
    const one = new Recorder();
    const deep = new Recorder();
    const both = new Recorder();
    const other = new Recorder();
    await hub.subscribe(exact, ['stocks/aex']);
    await hub.subscribe(one, ['stocks/*']);
    await hub.subscribe(deep, ['stocks/**']);
    await hub.subscribe(both, ['stocks/aex', 'stocks/*', '**']);
    await hub.subscribe(other, ['news']);
    await hub.publish('stocks/aex', 1);
    await hub.publish('stocks/eu/dax', 2);
    expect(exact.data).toEqual([1]);
    expect(one.data).toEqual([1]);
    expect(deep.data).toEqual([1, 2]);
    expect(both.data).toEqual([1, 2]);
    expect(other.data).toEqual([]);
    await broker.close();
  });

  it('ids increase strictly per channel', async () => {
    const { hub, broker } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await hub.publish('a', i));
    for (let i = 1; i < ids.length; i++) expect(Number(ids[i])).toBeGreaterThan(Number(ids[i - 1]));
    await broker.close();
  });

  it('rejects bad channels, bad patterns and oversize messages', async () => {
    const { hub, broker } = setup();
    await expect(hub.publish('a/../b', 1)).rejects.toMatchObject({ code: 'bad_channel' });
    await expect(hub.publish('a', 'x'.repeat(2000))).rejects.toMatchObject({ code: 'message_too_large', status: 413 });
    await expect(hub.subscribe(new Recorder(), ['a/*/b'])).rejects.toMatchObject({ code: 'bad_pattern' });
    await broker.close();
  });

  it('stops delivering after unsubscribe, and one throwing subscriber does not stop the others', async () => {
    const { hub, broker } = setup();
    const good = new Recorder();
    const gone = new Recorder();
    const bad: Subscriber = { open() {}, deliver() { throw new Error('boom'); } };
    await hub.subscribe(bad, ['a']);
    await hub.subscribe(gone, ['a']);
    await hub.subscribe(good, ['a']);
    hub.unsubscribe(gone);
    await hub.publish('a', 1);
    await hub.publish('a', 2);
    expect(good.data).toEqual([1, 2]);
    expect(gone.data).toEqual([]);
    expect(hub.stats().subscribers).toBe(1);
    await broker.close();
  });
});

describe.each(READS)('resume from history, over a broker whose reads %s', (_name, later) => {
  it('replays exactly what the cursor has not seen, for exact and wildcard subscriptions', async () => {
    const { hub, broker } = setup({ later });
    const first = new Recorder();
    await hub.subscribe(first, ['s/*', 'n']);
    await hub.publish('s/a', 'a1');
    await hub.publish('n', 'n1');
    // The client saw the first two, then disconnected.
    const cursor = first.info!.cursor + ',s/a@' + first.got[0].id + ',n@' + first.got[1].id;
    hub.unsubscribe(first);
    await hub.publish('s/a', 'a2');
    await hub.publish('s/b', 'b1'); // a channel the client never saw, under its wildcard
    await hub.publish('n', 'n2');
    await hub.publish('x', 'not subscribed');
    const again = new Recorder();
    await hub.subscribe(again, ['s/*', 'n'], parseCursor(cursor));
    expect(again.info!.resets).toEqual([]);
    expect(again.data).toEqual(['a2', 'b1', 'n2']);
    await broker.close();
  });

  it('sends a reset, not a silent gap, when history was trimmed past the cursor', async () => {
    const { hub, broker } = setup({ later }, 3);
    const first = new Recorder();
    await hub.subscribe(first, ['a', 'b']);
    const cursor = first.info!.cursor;
    hub.unsubscribe(first);
    for (let i = 0; i < 5; i++) await hub.publish('a', i);
    await hub.publish('b', 'kept');
    const again = new Recorder();
    await hub.subscribe(again, ['a', 'b'], parseCursor(cursor));
    expect(again.info!.resets).toEqual(['a']);
    expect(again.data).toEqual(['kept']);
    await broker.close();
  });

  it('trims by age too', async () => {
    let now = 1_000_000;
    const { hub, broker } = setup({ later }, 100, 1000, () => now);
    const first = new Recorder();
    await hub.subscribe(first, ['a']);
    const cursor = first.info!.cursor;
    hub.unsubscribe(first);
    await hub.publish('a', 'old');
    now += 5000;
    await hub.publish('a', 'new');
    const again = new Recorder();
    await hub.subscribe(again, ['a'], parseCursor(cursor));
    expect(again.info!.resets).toEqual(['a']);
    expect(again.data).toEqual([]);
    await broker.close();
  });

  it('resets every subscription for a cursor from another epoch (a restarted memory broker)', async () => {
    const { hub, broker } = setup({ later });
    await hub.publish('a', 1);
    const again = new Recorder();
    await hub.subscribe(again, ['a', 'b/*'], parseCursor('otherepoch~5'));
    expect(again.info!.resets).toEqual(['a', 'b/*']);
    expect(again.data).toEqual([]);
    await broker.close();
  });

  it('loses and duplicates nothing published while history is being read', async () => {
    const { hub, broker } = setup({ later });
    const first = new Recorder();
    await hub.subscribe(first, ['a']);
    const cursor = parseCursor(first.info!.cursor);
    hub.unsubscribe(first);
    for (let i = 0; i < 3; i++) await hub.publish('a', i);
    const again = new Recorder();
    const subscribing = hub.subscribe(again, ['a'], cursor);
    // Published after the subscription began but before it opened.
    const racing = [hub.publish('a', 3), hub.publish('a', 4)];
    await Promise.all([subscribing, ...racing]);
    await hub.publish('a', 5);
    expect(again.data).toEqual([0, 1, 2, 3, 4, 5]);
    await broker.close();
  });

  it('opens a resume with the client\'s own cursor and checkpoints after the backlog', async () => {
    const { hub, broker } = setup({ later });
    const first = new Recorder();
    await hub.subscribe(first, ['a', 'b']);
    const old = first.info!.cursor;
    hub.unsubscribe(first);
    await hub.publish('a', 1);
    await hub.publish('b', 2);
    const again = new Recorder();
    await hub.subscribe(again, ['a', 'b'], parseCursor(old));
    // Cut off midway through the backlog, the client still holds a cursor without a gap.
    expect(again.info!.cursor).toBe(old);
    expect(again.data).toEqual([1, 2]);
    const checkpoint = parseCursor(again.info!.checkpoint!);
    expect(checkpoint.base).toBe(await broker.position());
    // Nothing new since: resuming from the checkpoint is quiet and needs no checkpoint.
    const third = new Recorder();
    await hub.subscribe(third, ['a', 'b'], checkpoint);
    expect(third.data).toEqual([]);
    expect(third.info!.checkpoint).toBeNull();
    await broker.close();
  });

  it('does not lose a message published while a fresh subscription is being set up', async () => {
    const { hub, broker } = setup({ later });
    const r = new Recorder();
    const subscribing = hub.subscribe(r, ['a']);
    const racing = hub.publish('a', 'early');
    await Promise.all([subscribing, racing]);
    await hub.publish('a', 'late');
    expect(r.data).toEqual(['early', 'late']);
    await broker.close();
  });

  it('hands back a cursor whose base covers the replay', async () => {
    const { hub, broker } = setup({ later });
    await hub.publish('a', 1);
    const r = new Recorder();
    await hub.subscribe(r, ['a']);
    const c = parseCursor(r.info!.cursor);
    expect(c.epoch).toBe(await broker.epoch());
    expect(c.base).toBe(await broker.position());
    await broker.close();
  });
});

describe('keep-latest', () => {
  it('replays only the newest message per key', async () => {
    const { hub, broker } = setup();
    const first = new Recorder();
    await hub.subscribe(first, ['g']);
    const cursor = parseCursor(first.info!.cursor);
    hub.unsubscribe(first);
    await hub.publish('g', { cpu: 1 }, { key: 'cpu' });
    await hub.publish('g', 'event');
    await hub.publish('g', { cpu: 2 }, { key: 'cpu' });
    await hub.publish('g', { mem: 9 }, { key: 'mem' });
    await hub.publish('g', { cpu: 3 }, { key: 'cpu' });
    const again = new Recorder();
    await hub.subscribe(again, ['g'], cursor);
    expect(again.data).toEqual(['event', { mem: 9 }, { cpu: 3 }]);
    await broker.close();
  });

  it('conflate keeps order and unkeyed messages', () => {
    const m = (id: string, key?: string): Message => ({ channel: 'c', id, json: id, key });
    const list = [m('1', 'k'), m('2'), m('3', 'k'), m('4', 'j'), m('5')];
    conflate(list);
    expect(list.map((x) => x.id)).toEqual(['2', '3', '4', '5']);
  });
});

describe('a broker whose reads answer at once', () => {
  it('opens the subscriber before subscribe() returns, and a refusal still comes as a rejection', async () => {
    const { hub, broker } = setup();
    await hub.publish('a', 1);
    const r = new Recorder();
    const subscribing = hub.subscribe(r, ['a'], parseCursor(broker.immediate.epoch() + '~0'));
    expect(r.data).toEqual([1]);
    // The settled promise callers compare with to go on in the same turn.
    expect(subscribing).toBe(SUBSCRIBED);
    await subscribing;
    const refused = hub.subscribe(new Recorder(), ['bad pattern']);
    expect(refused).not.toBe(SUBSCRIBED);
    await expect(refused).rejects.toMatchObject({ code: 'bad_pattern' });
    const again = hub.subscribe(r, ['a']);
    expect(again).not.toBe(SUBSCRIBED);
    await expect(again).rejects.toThrow('already subscribed');
    await broker.close();
  });

  it('opens the subscriber later over a broker that answers later, and says so by another promise', async () => {
    const { hub, broker } = setup({ later: true });
    const r = new Recorder();
    const subscribing = hub.subscribe(r, ['a']);
    expect(subscribing).not.toBe(SUBSCRIBED);
    expect(r.info).toBeNull();
    await subscribing;
    expect(r.info).not.toBeNull();
    await broker.close();
  });
});

/**
 * A broker with Redis's ids: `<ms>-<seq>` per channel, so channels written in the same
 * millisecond share an id, and a position read in a millisecond is the end of the one
 * before (`(T-1)-<max seq>`): what that millisecond wrote is past it.
 */
class SameMillisecondBroker implements Broker {
  /** 10 ms of 20 channels each at or below the position, then 48 channels in the millisecond it was read in. */
  readonly written: Message[] = [
    ...Array.from({ length: 200 }, (_, i) => ({ channel: 'm/c' + (i % 20), id: `${990 + Math.floor(i / 20)}-0`, json: String(i) })),
    ...Array.from({ length: 48 }, (_, i) => ({ channel: 'm/c' + i, id: '1000-0', json: 'last ms ' + i })),
  ];
  async epoch(): Promise<string> {
    return 'e1';
  }
  async publish(): Promise<string> {
    throw new Error('not used');
  }
  async position(): Promise<string> {
    return '999-18446744073709551615';
  }
  async watermark(): Promise<string> {
    return '999-18446744073709551615';
  }
  async history(): Promise<Backlog> {
    return { messages: this.written, resets: [] };
  }
  watch(): void {}
  unwatch(): void {}
  setSink(): void {}
  notify(): void {}
  setNoteSink(): void {}
  status() {
    return { kind: 'same-millisecond', ready: true };
  }
  async close(): Promise<void> {}
}

describe('checkpoints inside a resume backlog', () => {
  it('stay short where ids repeat across channels: none past the position read, whose base could not cover it', async () => {
    const broker = new SameMillisecondBroker();
    const hub = new Hub(broker, { maxMessageBytes: 1024 });
    const r = new Recorder();
    await hub.subscribe(r, ['m/*'], parseCursor('e1~989-0'));
    const info = r.info!;
    expect(info.backlog).toHaveLength(248);
    const marks = info.marks ?? [];
    // One at the end of each millisecond of 20 channels up to the position.
    expect(marks.map((m) => m.after)).toEqual(Array.from({ length: 10 }, (_, k) => 20 * k + 19));
    for (const mark of marks) expect(entryCount(parseCursor(mark.cursor))).toBeLessThan(CHECKPOINT_ENTRIES);
    // The checkpoint after the backlog covers the last millisecond, one entry per channel.
    expect(entryCount(parseCursor(info.checkpoint!))).toBe(48);
  });
});
