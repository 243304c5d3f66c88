import type { Broker } from '../../src/brokers';
import { Hub, type OpenInfo, type Subscriber } from '../../src/hub';
import { advance, formatCursor, parseCursor, type Cursor, type Message } from '../../src/protocol';
import { sleep, type BrokerHarness } from './broker-contract';

/** The hub over a broker: what a client sees end to end, without HTTP. */
export interface HubHarness extends BrokerHarness {
  /** The backend loses everything it stored (memory: the process restarts; Redis: data
   * gone). Resolves to the broker to use afterwards. */
  lose(broker: Broker): Promise<Broker>;
}

const HUB_OPTIONS = { maxMessageBytes: 64 * 1024 };

/** Keeps a cursor the way the bridge does, across any number of sessions. */
export class Client {
  cursor: Cursor | undefined;
  readonly got: Message[] = [];
  readonly resets: string[] = [];
  opens = 0;

  /** A fresh Subscriber (the hub knows subscribers by identity) feeding this client. */
  session(): Subscriber {
    return {
      open: (info: OpenInfo) => {
        this.opens++;
        this.cursor = parseCursor(info.cursor);
        this.resets.push(...info.resets);
        for (const m of info.backlog) this.record(m);
        // Resets and backlog taken in: the compact cursor that covers them.
        if (info.checkpoint !== null) this.cursor = parseCursor(info.checkpoint);
      },
      deliver: (m: Message) => this.record(m),
    };
  }

  private record(m: Message): void {
    this.got.push(m);
    if (this.cursor) advance(this.cursor, m.channel, m.id);
  }

  values(channel: string): number[] {
    return this.got.filter((m) => m.channel === channel).map((m) => (JSON.parse(m.json) as { n: number }).n);
  }
}

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(5);
  }
}

/** Every value from `from` to `to`, once, in order. */
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

export function describeHub(name: string, harness: HubHarness): void {
  describe(`hub contract: ${name}`, () => {
    const open: Broker[] = [];
    const make = async () => {
      const b = await harness.create();
      open.push(b);
      return b;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    test('a cursor from another epoch gets a reset for every pattern', async () => {
      const hub = new Hub(await make(), HUB_OPTIONS);
      const client = new Client();
      client.cursor = { epoch: 'elsewhere1', base: '5', channels: new Map() };
      await hub.subscribe(client.session(), ['e/a', 'e/*'], client.cursor);
      expect(client.resets).toEqual(['e/a', 'e/*']);
    });

    test('when the backend loses its data, old cursors get a reset', async () => {
      const broker = await make();
      const hub = new Hub(broker, HUB_OPTIONS);
      const client = new Client();
      const s = client.session();
      await hub.subscribe(s, ['lost'], undefined);
      await hub.publish('lost', { n: 0 });
      await until(() => client.got.length === 1, 'the first message');
      hub.unsubscribe(s);
      const after = await harness.lose(broker);
      if (after !== broker) open.push(after);
      const hub2 = new Hub(after, HUB_OPTIONS);
      const again = new Client();
      await hub2.subscribe(again.session(), ['lost'], client.cursor);
      expect(again.resets).toEqual(['lost']);
      expect(again.got).toEqual([]);
    });

    test('subscribing with a cursor while others publish: nothing lost, nothing twice', async () => {
      const pubBroker = await make();
      const subBroker = harness.peer ? await harness.peer(pubBroker) : pubBroker;
      if (subBroker !== pubBroker) open.push(subBroker);
      const pubHub = new Hub(pubBroker, HUB_OPTIONS);
      const subHub = subBroker === pubBroker ? pubHub : new Hub(subBroker, HUB_OPTIONS);
      const channels = ['c/a', 'c/b'];
      const N = 150;

      // From before the first publish: must get everything, backlog then live.
      const epoch = await subBroker.epoch();
      const early: Cursor = { epoch, base: await subBroker.position(), channels: new Map() };

      let done = false;
      const publisher = (async () => {
        for (let n = 0; n < N; n++) {
          // A few in flight at once, per channel in order.
          await Promise.all(channels.map((ch) => pubHub.publish(ch, { n })));
          if (n % 10 === 0) await sleep(1);
        }
        done = true;
      })();

      // Joins late with the early cursor.
      await sleep(5);
      const late = new Client();
      late.cursor = early;
      await subHub.subscribe(late.session(), ['c/*'], formatAndParse(early));

      // Comes and goes while publishing goes on, resuming with its cursor each time.
      const hopper = new Client();
      let session = hopper.session();
      await subHub.subscribe(session, ['c/a', 'c/**'], undefined);
      for (let hop = 0; hop < 200 && !done; hop++) {
        await sleep(2 + (hop % 4));
        subHub.unsubscribe(session);
        await sleep(hop % 3);
        session = hopper.session();
        await subHub.subscribe(session, ['c/a', 'c/**'], hopper.cursor);
      }
      await publisher;
      for (const c of [late, hopper]) {
        await until(() => channels.every((ch) => c.values(ch).slice(-1)[0] === N - 1), 'the last message');
      }
      await sleep(50);
      expect(hopper.opens).toBeGreaterThan(2);
      for (const ch of channels) {
        expect(late.values(ch)).toEqual(range(0, N - 1));
        const seen = hopper.values(ch);
        expect(seen).toEqual(range(seen[0], N - 1));
      }
      expect(late.resets).toEqual([]);
      expect(hopper.resets).toEqual([]);
    });
  });
}

/** The cursor as it travels: through its wire form. */
function formatAndParse(cursor: Cursor): Cursor {
  return parseCursor(formatCursor(cursor));
}
