import { BRIDGE_MIN_SOURCE, BRIDGE_SOURCE } from '../helpers/bridge';
import { World, type Tab } from '../helpers/tabs-world';

/**
 * Tab sharing in the real bridge, between jsdom windows that share a simulated
 * BroadcastChannel, localStorage (each tab with its own view, updated by storage
 * events) and Web Locks, on virtual time (docs/bridge.md, "Many tabs, one stream").
 */

jest.setTimeout(20000);

let world: World;

afterEach(() => {
  world?.closeAll();
});

afterAll(() => {
  World.source = BRIDGE_SOURCE;
});

const connect = (tab: Tab, options: Record<string, unknown>) => tab.window.Pushframe.connect(options);
const ids = (tab: Tab): string[] => tab.messages().map((m) => m.channel + '@' + m.id);

async function twoTabs(options: { broadcast: boolean; locks: boolean; storage: boolean }): Promise<[Tab, Tab]> {
  world = new World(options);
  const a = await world.open('A');
  const b = await world.open('B');
  connect(a, { channels: ['news'] });
  await world.run(0);
  world.leader().sink().o('E~1', 1000);
  await world.run(0);
  connect(b, { channels: ['news'] });
  await world.run(0);
  return [a, b];
}
// The readable file, then the minified build, where the bridge's own members are renamed.
describe.each([
  ['public/pushframe.js', BRIDGE_SOURCE],
  ['public/pushframe.min.js', BRIDGE_MIN_SOURCE],
])('%s', (_name, source) => {
  beforeAll(() => {
    World.source = source;
  });

  describe('tab sharing with Web Locks and BroadcastChannel', () => {
    const FULL = { broadcast: true, locks: true, storage: true };

    it('one tab holds the stream; the other fires the same events in the same order', async () => {
      const [a, b] = await twoTabs(FULL);
      expect(world.leader()).toBe(a);
      expect(b.frames()).toHaveLength(0);
      a.sink().m('news', '2', { n: 1 }, 'news', '3', [1, '</script>']);
      await world.run(0);
      expect(a.types()).toEqual(['transport', 'open', 'message', 'message']);
      expect(b.events).toEqual(a.events);
      expect(b.events[1].detail).toEqual({ transport: 'iframe', cursor: 'E~1', heartbeatMs: 1000 });
      expect(b.messages()[1]).toEqual({ channel: 'news', id: '3', data: [1, '</script>'] });
    });

    it('a tab that subscribes changes the union: the stream re-opens with its cursor', async () => {
      const [a, b] = await twoTabs(FULL);
      a.sink().m('news', '2', 1);
      await world.run(0);
      b.window.Pushframe.connect({ channels: ['sport/*'] });
      await world.run(0);
      const q = a.params();
      expect(q.channels).toBe('news,sport/*');
      expect(q.since).toBe('E~1,news@2');
      a.sink().o('E~1,news@2', 1000);
      a.sink().m('sport/golf', '4', 'hole in one', 'news', '5', 2);
      await world.run(0);
      expect(ids(a)).toEqual(['news@2', 'news@5']); // only its own channels
      expect(ids(b)).toEqual(['news@2', 'sport/golf@4', 'news@5']);
      // The tab that did not ask sees no second open; the new connection sees its own.
      expect(a.types().filter((t) => t === 'open')).toHaveLength(1);
      expect(b.types().filter((t) => t === 'open')).toHaveLength(2);
    });

    it('a recycled stream (p.r) shows a new open in every tab, as a stream of its own would', async () => {
      const [a, b] = await twoTabs(FULL);
      a.sink().m('news', '2', 1);
      a.sink().r(0);
      await world.run(10);
      expect(a.params().since).toBe('E~1,news@2');
      a.sink().o('E~1,news@2', 1000);
      await world.run(0);
      expect(a.types()).toEqual(['transport', 'open', 'message', 'open']);
      expect(b.events).toEqual(a.events);
    });

    it('the leader closes: the other tab takes over at once (no timer) from the last message it saw', async () => {
      const [a, b] = await twoTabs(FULL);
      a.sink().m('news', '2', 1, 'news', '3', 2);
      await world.run(0);
      a.sink().m('news', '4', 3); // relayed, still in flight to B when A goes
      world.close(a);
      await world.run(0); // no virtual time passes
      expect(world.leader()).toBe(b);
      expect(b.params().since).toBe('E~1,news@4');
      // The new stream repeats what B had (a leader that trailed): dropped, not repeated.
      b.sink().o('E~1,news@4', 1000);
      b.sink().m('news', '4', 3, 'news', '5', 4);
      await world.run(0);
      expect(ids(b)).toEqual(['news@2', 'news@3', 'news@4', 'news@5']);
      expect(b.types()).toEqual(['transport', 'open', 'message', 'message', 'message', 'message']);
    });

    it('a frozen leader (its timers stopped) is taken over; when it wakes it follows and relays nothing stale', async () => {
      const [a, b] = await twoTabs(FULL);
      a.sink().m('news', '2', 1);
      await world.run(0);
      a.frozen = true;
      // B hears nothing: after two heartbeat intervals plus the longest backoff (30 s) it
      // takes over; not while the leader is merely as quiet as a live stream may be.
      const frozenAt = world.now;
      for (let i = 0; i < 120 && b.frames().length === 0; i++) await world.run(1000);
      expect(b.frames()).toHaveLength(1);
      expect(world.now - frozenAt).toBeGreaterThan(30000);
      expect(world.now - frozenAt).toBeLessThanOrEqual(2 * 20000 + 30000 + 1000);
      expect(b.sink() && b.params().since).toBe('E~1,news@2');
      b.sink().o('E~1,news@2', 1000);
      b.sink().m('news', '3', 2);
      await world.run(0);
      a.frozen = false;
      // Its stale stream still delivers for a moment before it learns it lost the lock.
      a.sink().m('news', '3', 2, 'news', '9', 'stale');
      await world.run(0);
      expect(world.leader()).toBe(b);
      b.sink().m('news', '4', 3);
      await world.run(0);
      expect(ids(b)).toEqual(['news@2', 'news@3', 'news@4']);
      expect(ids(a).filter((id) => id !== 'news@9')).toEqual(['news@2', 'news@3', 'news@4']);
    });

    it('two tabs racing for leadership: the lock admits one', async () => {
      world = new World(FULL);
      const a = await world.open('A');
      const b = await world.open('B');
      connect(a, { channels: ['x'] });
      connect(b, { channels: ['x'] });
      await world.run(0);
      const lead = world.leader();
      lead.sink().o('E~1', 1000);
      lead.sink().m('x', '2', 'once');
      await world.run(0);
      expect(ids(a)).toEqual(['x@2']);
      expect(ids(b)).toEqual(['x@2']);
    });

    it('a tab gets only its own channels: a private channel in the union is filtered out, and named with its grant', async () => {
      world = new World(FULL);
      const a = await world.open('A');
      const b = await world.open('B');
      connect(a, { channels: ['a', 'private/x'], token: 'g1.TOKEN.A' });
      await world.run(0);
      connect(b, { channels: ['a'] });
      await world.run(0);
      const q = a.params();
      expect(q.channels).toBe('a!0,private/x!0,a');
      expect(q.token).toBe('g1.TOKEN.A');
      a.sink().o('E~1', 1000);
      a.sink().m('private/x', '2', 'secret', 'a', '3', 'public');
      await world.run(0);
      expect(ids(a)).toEqual(['private/x@2', 'a@3']);
      expect(ids(b)).toEqual(['a@3']);
    });

    it('a refusal caused by one tab ends that tab only, as it would alone', async () => {
      const [a, b] = await twoTabs(FULL);
      connect(b, { channels: ['private/y'] });
      await world.run(0);
      expect(a.params().channels).toBe('news,private/y');
      a.sink().e('bad_grant', '"private/y" is private: a grant (token=) is required.');
      await world.run(0);
      expect(b.types().slice(-2)).toEqual(['error', 'close']);
      expect(a.types()).toEqual(['transport', 'open']);
      expect(a.params().channels).toBe('news');
    });

    it('share: false keeps a connection out: its own stream', async () => {
      const [a, b] = await twoTabs(FULL);
      connect(b, { channels: ['news'], share: false });
      await world.run(0);
      expect(a.frames()).toHaveLength(1);
      expect(b.frames()).toHaveLength(1);
    });
  });

  describe('joining with a cursor of its own (catch-up)', () => {
    const FULL = { broadcast: true, locks: true, storage: true };
    type Answer = { cursor: string; messages: unknown[][]; resets: string[]; timeoutMs: number; error?: unknown };

    /** The tab's pending catch-up polls: answered at once (`open=1`), with a cursor. */
    function catchUps(tab: Tab): { el: HTMLScriptElement; q: Record<string, string>; answer(a: Answer): void }[] {
      const poll = tab.window.Pushframe as unknown as { _poll: Record<string, (a: Answer) => void> };
      return Array.from(tab.window.document.getElementsByTagName('script'))
        .filter((el) => /\/poll\?/.test(el.src))
        .map((el) => {
          const q = Object.fromEntries(new URL(el.src).searchParams);
          return { el, q, answer: (a: Answer) => poll._poll[q.callback.replace('Pushframe._poll.', '')](a) };
        })
        .filter((p) => p.q.open === '1');
    }

    /** Tab A leads for `news` and has news@2 and news@3; B's page was rendered at E~1. */
    async function lateTab(): Promise<[Tab, Tab, { cursor(): string }]> {
      world = new World(FULL);
      const a = await world.open('A');
      const b = await world.open('B');
      connect(a, { channels: ['news'] });
      await world.run(0);
      a.sink().o('E~1', 1000);
      a.sink().m('news', '2', 'two', 'news', '3', 'three');
      await world.run(0);
      const c = connect(b, { channels: ['news'], since: 'E~1' }) as unknown as { cursor(): string };
      await world.run(0);
      return [a, b, c];
    }

    it('a tab that joins with an older cursor gets the gap once, then the live messages, in order', async () => {
      const [a, b, c] = await lateTab();
      expect(catchUps(a)).toHaveLength(0); // A has no cursor of its own: nothing to fetch
      const [poll] = catchUps(b);
      expect(catchUps(b)).toHaveLength(1);
      expect(poll.q).toMatchObject({ channels: 'news', since: 'E~1', open: '1' });
      expect(b.types()).toEqual(['transport', 'open']);
      // Published while the catch-up is on its way: relayed to B, held back until the gap is in.
      a.sink().m('news', '4', 'four');
      await world.run(0);
      expect(ids(b)).toEqual([]);
      expect(c.cursor()).toBe('E~1');
      poll.answer({ cursor: 'E~1,news@4', messages: [['news', '2', 'two'], ['news', '3', 'three'], ['news', '4', 'four']], resets: [], timeoutMs: 1000 });
      expect(catchUps(b)).toHaveLength(0);
      a.sink().m('news', '5', 'five');
      await world.run(0);
      expect(ids(b)).toEqual(['news@2', 'news@3', 'news@4', 'news@5']);
      expect(b.messages().map((m) => m.data)).toEqual(['two', 'three', 'four', 'five']);
      expect(ids(a)).toEqual(['news@2', 'news@3', 'news@4', 'news@5']);
      expect(b.types()).toEqual(['transport', 'open', 'message', 'message', 'message', 'message']);
      expect(c.cursor()).toBe('E~1,news@5');
    });

    it('a gap answered before the relay brings what it holds (its poll outran the other tab): each message once', async () => {
      const [a, b, c] = await lateTab();
      const [poll] = catchUps(b);
      // 4 and 5 are published while the poll is on its way; the server answers it first.
      poll.answer({ cursor: 'E~1,news@5', messages: [['news', '2', 'two'], ['news', '3', 'three'], ['news', '4', 'four'], ['news', '5', 'five']], resets: [], timeoutMs: 1000 });
      expect(ids(b)).toEqual(['news@2', 'news@3', 'news@4', 'news@5']);
      // Then the relay through A brings 4 and 5, and what follows.
      a.sink().m('news', '4', 'four', 'news', '5', 'five', 'news', '6', 'six');
      await world.run(0);
      a.sink().m('news', '7', 'seven');
      await world.run(0);
      expect(ids(b)).toEqual(['news@2', 'news@3', 'news@4', 'news@5', 'news@6', 'news@7']);
      expect(ids(a)).toEqual(['news@2', 'news@3', 'news@4', 'news@5', 'news@6', 'news@7']);
      expect(c.cursor()).toBe('E~1,news@7');
    });

    it('ids the gap held but the relay never brought (the node restarted) do not hide the next epoch’s messages', async () => {
      const [a, b] = await lateTab();
      catchUps(b)[0].answer({ cursor: 'E~1,news@5', messages: [['news', '4', 'four'], ['news', '5', 'five']], resets: [], timeoutMs: 1000 });
      // The stream ends before it relays 4 and 5; the node that answers next counts ids from 1 again.
      a.sink().r(0);
      await world.run(10);
      a.sink().o('F~1', 1000);
      await world.run(0);
      a.sink().m('news', '4', 'a new four', 'news', '5', 'a new five');
      await world.run(0);
      expect(b.messages().map((m) => m.data)).toEqual(['four', 'five', 'a new four', 'a new five']);
    });

    it('a gap that is behind the relay on one channel and ahead of it on another: each message once', async () => {
      world = new World(FULL);
      const a = await world.open('A');
      const b = await world.open('B');
      connect(a, { channels: ['x', 'y'] });
      await world.run(0);
      a.sink().o('E~1', 1000);
      a.sink().m('x', '2', 'x2');
      await world.run(0);
      connect(b, { channels: ['x', 'y'], since: 'E~1' });
      await world.run(0);
      const [poll] = catchUps(b);
      // The relay brings x@3 while the poll is out; the answer also holds y@4, not yet relayed.
      a.sink().m('x', '3', 'x3');
      await world.run(0);
      poll.answer({ cursor: 'E~1,x@3,y@4', messages: [['x', '2', 'x2'], ['x', '3', 'x3'], ['y', '4', 'y4']], resets: [], timeoutMs: 1000 });
      a.sink().m('y', '4', 'y4', 'x', '5', 'x5', 'y', '6', 'y6');
      await world.run(0);
      expect(ids(b)).toEqual(['x@2', 'x@3', 'y@4', 'x@5', 'y@6']);
    });

    it('keeps only its own channels from the gap, with its resets, and relayed messages past the gap', async () => {
      world = new World(FULL);
      const a = await world.open('A');
      const b = await world.open('B');
      connect(a, { channels: ['news', 'sport/*'] });
      await world.run(0);
      a.sink().o('E~1', 1000);
      await world.run(0);
      connect(b, { channels: ['sport/*'], since: 'E~0' });
      await world.run(0);
      const [poll] = catchUps(b);
      expect(poll.q.channels).toBe('sport/*');
      a.sink().m('sport/golf', '7', 'relayed first', 'news', '8', 'not B', 'sport/golf', '9', 'after the gap');
      await world.run(0);
      poll.answer({ cursor: 'E~1,sport/golf@7', messages: [['news', '1', 'not B'], ['sport/golf', '6', 'six'], ['sport/golf', '7', 'relayed first']], resets: ['sport/tennis'], timeoutMs: 1000 });
      expect(b.types()).toEqual(['transport', 'open', 'reset', 'message', 'message', 'message']);
      expect(b.events[2].detail).toEqual({ channels: ['sport/tennis'] });
      expect(ids(b)).toEqual(['sport/golf@6', 'sport/golf@7', 'sport/golf@9']);
    });

    it('a second connection in the leader tab with an older cursor catches up the same way', async () => {
      const [a] = await lateTab();
      connect(a, { channels: ['news'], since: 'E~1' });
      await world.run(0);
      const [poll] = catchUps(a);
      expect(poll.q.since).toBe('E~1');
      poll.answer({ cursor: 'E~1,news@3', messages: [['news', '2', 'two'], ['news', '3', 'three']], resets: [], timeoutMs: 1000 });
      a.sink().m('news', '4', 'four');
      await world.run(0);
      const seen: string[] = [];
      for (const e of a.events) if (e.type === 'message') seen.push((e.detail as { id: string }).id);
      // The first connection's 2, 3, 4; the second's 2, 3 (the gap), then 4.
      expect(seen).toEqual(['2', '3', '2', '3', '4', '4']);
    });

    it('a tab back from the back-forward cache catches up from where it was suspended', async () => {
      const [a, b] = await lateTab();
      catchUps(b)[0].answer({ cursor: 'E~1,news@3', messages: [['news', '2', 'two'], ['news', '3', 'three']], resets: [], timeoutMs: 1000 });
      const W = b.window as unknown as { dispatchEvent(e: Event): boolean; Event: typeof Event };
      const page = (type: string): Event => Object.assign(new W.Event(type), { persisted: true });
      W.dispatchEvent(page('pagehide'));
      await world.run(0);
      a.sink().m('news', '4', 'four');
      await world.run(0);
      W.dispatchEvent(page('pageshow'));
      await world.run(0);
      const [poll] = catchUps(b);
      expect(poll.q.since).toBe('E~1,news@3');
      poll.answer({ cursor: 'E~1,news@4', messages: [['news', '4', 'four']], resets: [], timeoutMs: 1000 });
      a.sink().m('news', '5', 'five');
      await world.run(0);
      expect(ids(b)).toEqual(['news@2', 'news@3', 'news@4', 'news@5']);
    });

    it('the first connection starts the stream from its own cursor: nothing to fetch', async () => {
      world = new World(FULL);
      const a = await world.open('A');
      connect(a, { channels: ['news'], since: 'E~1' });
      await world.run(0);
      expect(a.params().since).toBe('E~1');
      a.sink().o('E~1', 1000);
      await world.run(0);
      expect(catchUps(a)).toHaveLength(0);
    });

    it('a failed catch-up gives a reset for its channels (never a silent gap), then the live messages', async () => {
      const [a, b, c] = await lateTab();
      const [poll] = catchUps(b);
      a.sink().m('news', '4', 'four');
      await world.run(0);
      poll.el.dispatchEvent(new (b.window as unknown as { Event: typeof Event }).Event('error'));
      a.sink().m('news', '5', 'five');
      await world.run(0);
      expect(b.types()).toEqual(['transport', 'open', 'reset', 'message', 'message']);
      expect(b.events[2].detail).toEqual({ channels: ['news'] });
      expect(ids(b)).toEqual(['news@4', 'news@5']);
      expect(c.cursor()).toBe('E~1,news@5');
    });

    it('an error answer, or no answer within openTimeoutMs, gives a reset too', async () => {
      const [, b] = await lateTab();
      catchUps(b)[0].answer({ cursor: '', messages: [], resets: [], timeoutMs: 0, error: { code: 'bad_cursor', message: 'x' } });
      expect(b.types()).toEqual(['transport', 'open', 'reset']);
      connect(b, { channels: ['news'], since: 'E~1' });
      await world.run(0);
      expect(catchUps(b)).toHaveLength(1);
      await world.run(9999);
      expect(b.types().filter((t) => t === 'reset')).toHaveLength(1);
      await world.run(1);
      const resets = b.events.filter((e) => e.type === 'reset');
      expect(resets).toEqual([{ type: 'reset', detail: { channels: ['news'] } }, { type: 'reset', detail: { channels: ['news'] } }]);
      expect(catchUps(b)).toHaveLength(0);
    });
  });

  describe('tab sharing through localStorage (no Web Locks, no BroadcastChannel)', () => {
    const STORAGE = { broadcast: false, locks: false, storage: true };

    it('shares one stream and relays through storage events', async () => {
      const [a, b] = await twoTabs(STORAGE);
      expect(world.leader()).toBe(a);
      a.sink().m('news', '2', { n: 1 });
      await world.run(0);
      expect(b.events).toEqual(a.events);
    });

    it('two tabs racing for the lease (neither sees the other write yet): one stream remains', async () => {
      world = new World(STORAGE);
      const a = await world.open('A');
      const b = await world.open('B');
      connect(a, { channels: ['x'] });
      connect(b, { channels: ['x'] });
      await world.run(0);
      // Both claimed: each wrote the lease before it saw the other's.
      const claims = world.writes.filter((w) => w.key.endsWith('|lease') && w.value !== null);
      expect(new Set(claims.map((w) => w.tab))).toEqual(new Set(['A', 'B']));
      const lead = world.leader();
      lead.sink().o('E~1', 1000);
      lead.sink().m('x', '2', 'once');
      await world.run(0);
      expect(world.leader()).toBe(lead);
      expect(ids(a)).toEqual(['x@2']);
      expect(ids(b)).toEqual(['x@2']);
    });

    it('a leader that closes hands over at once through the storage event', async () => {
      const [a, b] = await twoTabs(STORAGE);
      a.sink().m('news', '2', 1);
      await world.run(0);
      world.close(a);
      await world.run(0);
      expect(world.leader()).toBe(b);
      expect(b.params().since).toBe('E~1,news@2');
    });

    it('a frozen leader loses its lease when it runs out, and yields when it wakes', async () => {
      const [a, b] = await twoTabs(STORAGE);
      a.sink().m('news', '2', 1);
      await world.run(0);
      a.frozen = true;
      await world.run(3 * 1000 + 2000); // the lease: three heartbeat intervals
      expect(b.frames()).toHaveLength(1);
      b.sink().o('E~1,news@2', 1000);
      b.sink().m('news', '3', 2);
      await world.run(0);
      a.frozen = false;
      await world.run(0);
      expect(world.leader()).toBe(b);
      expect(ids(a)).toEqual(['news@2', 'news@3']);
    });
  });

  describe('no way to share (no storage, no BroadcastChannel, no locks)', () => {
    it('keeps one stream per tab, as before', async () => {
      world = new World({ broadcast: false, locks: false, storage: false });
      const a = await world.open('A');
      const b = await world.open('B');
      connect(a, { channels: ['x'] });
      connect(b, { channels: ['x'] });
      await world.run(0);
      expect(a.frames()).toHaveLength(1);
      expect(b.frames()).toHaveLength(1);
      b.sink().o('E~1', 1000);
      b.sink().m('x', '2', 'mine');
      expect(ids(b)).toEqual(['x@2']);
      expect(ids(a)).toEqual([]);
    });
  });
});
