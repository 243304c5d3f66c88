/** @jest-environment jsdom */
import { afterScript, frameCallbacks, loadBridge, streamParams, type Connection, type FrameCallbacks, type PushframeGlobal } from '../helpers/bridge';

/** The bridge's transport ladder: stream first, long-poll when streams show nothing, streams again later. */

interface PollAnswer {
  cursor?: string;
  messages?: [string, string, unknown][];
  resets?: string[];
  timeoutMs?: number;
  reconnect?: number;
  error?: { code: string; message: string };
}

type Global = PushframeGlobal & { _poll: Record<string, (answer: PollAnswer) => void> };

let Pushframe: Global;
let conns: Connection[];
let seen: { type: string; detail: unknown }[];
const EVENTS = ['message', 'open', 'reset', 'transport', 'error', 'close'].map((n) => 'pushframe:' + n);
const record = (ev: { type: string; detail: unknown }): void => {
  seen.push({ type: ev.type.replace('pushframe:', ''), detail: ev.detail });
};

const iframes = (): HTMLIFrameElement[] =>
  Array.from(document.getElementsByTagName('iframe')).filter((f) => f.src.indexOf('/stream?') !== -1);
const pollScripts = (): HTMLScriptElement[] =>
  Array.from(document.getElementsByTagName('script')).filter((s) => s.src.indexOf('/poll?') !== -1);
const isPosition = (s: HTMLScriptElement): boolean => /callback=Pushframe\._poll\.pos/.test(s.src);
/** Poll requests of the long-poll transport (not the one asking for a position). */
const polls = (): HTMLScriptElement[] => pollScripts().filter((s) => !isPosition(s));
const positionRequests = (): HTMLScriptElement[] => pollScripts().filter(isPosition);

function onlyPoll(): { el: HTMLScriptElement; params: Record<string, string>; answer(a: PollAnswer): void } {
  const list = polls();
  expect(list).toHaveLength(1);
  const el = list[0];
  const params = streamParams(el);
  const name = params.callback.replace('Pushframe._poll.', '');
  return { el, params, answer: (a) => Pushframe._poll[name](a) };
}

const sinkOf = (iframe: HTMLIFrameElement): FrameCallbacks => frameCallbacks(Pushframe, iframe);

function connect(options: Record<string, unknown>): Connection {
  const c = Pushframe.connect({ backoffMinMs: 100, backoffMaxMs: 100, openTimeoutMs: 2000, ...options });
  conns.push(c);
  return c;
}

/** Lets zero-delay timers run (jsdom clamps timers nested in timer callbacks to 4 ms). */
const settle = async (): Promise<void> => {
  await jest.advanceTimersByTimeAsync(4);
};
const of = (type: string): unknown[] => seen.filter((s) => s.type === type).map((s) => s.detail);
const transportsSeen = (): string[] => of('transport').map((d) => (d as { name: string }).name);
const gotData = (): unknown[] => of('message').map((d) => (d as { data: unknown }).data);

beforeEach(() => {
  jest.useFakeTimers();
  Pushframe = loadBridge(window) as Global;
  seen = [];
  conns = [];
  for (const t of EVENTS) Pushframe.listen(document, t, record);
});

afterEach(() => {
  for (const c of conns) c.close();
  for (const t of EVENTS) Pushframe.unlisten(document, t, record);
  delete (window as { Pushframe?: unknown }).Pushframe;
  jest.useRealTimers();
});

describe('bridge ladder: falling back to long-poll', () => {
  it('falls back to long-poll at once when a stream shows nothing within openTimeoutMs', async () => {
    const c = connect({ channels: ['a'] });
    await settle();
    expect(iframes()).toHaveLength(1);
    expect(polls()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(2000);
    expect(iframes()).toHaveLength(0);
    // The switch waits for no timer (a hidden tab's wait a second): the poll is out already.
    expect(transportsSeen()).toEqual(['iframe', 'longpoll']);
    expect(of('error')).toEqual([{ code: 'timeout', message: expect.stringMatching(/No data/) }]);
    expect(c.transport).toBe('longpoll');
    const p = onlyPoll();
    expect(p.params.channels).toBe('a');
    expect(p.params.since).toBeUndefined();
    expect(new URL(p.el.src).pathname).toBe('/pushframe/poll');
  });

  it('asks for its position at once when it has none, so the fall to long-poll loses nothing published meanwhile', async () => {
    const c = connect({ channels: ['a'] });
    await settle();
    expect(iframes()).toHaveLength(1);
    const pos = positionRequests();
    expect(pos).toHaveLength(1);
    const q = streamParams(pos[0]);
    expect(q.since).toBeUndefined();
    expect(q.channels).toBe('a');
    Pushframe._poll[q.callback.replace('Pushframe._poll.', '')]({
      cursor: 'E~4',
      messages: [],
      resets: [],
      timeoutMs: 1000,
    });
    expect(positionRequests()).toHaveLength(0);
    expect(c.cursor()).toBe('E~4');
    await jest.advanceTimersByTimeAsync(2000);
    await settle();
    expect(onlyPoll().params.since).toBe('E~4');
    expect(positionRequests()).toHaveLength(0); // asked once per connection
  });

  it('checks the path of a stream not yet proven even with a position, without changing it; not after a stream opened, nor without a polling rung', async () => {
    const a = connect({ channels: ['a'], since: 'E~1', share: false });
    await settle();
    const check = positionRequests();
    expect(check).toHaveLength(1);
    const cq = streamParams(check[0]);
    expect(cq.since).toBeUndefined(); // answered at once, whatever is waiting
    Pushframe._poll[cq.callback.replace('Pushframe._poll.', '')]({ cursor: 'E~2', messages: [], resets: [], timeoutMs: 1000 });
    expect(a.cursor()).toBe('E~1');
    a.close();
    const c = connect({ channels: ['b'], share: false });
    await settle();
    const q = streamParams(positionRequests()[0]);
    sinkOf(iframes()[iframes().length - 1]).o('E~9', 1000);
    Pushframe._poll[q.callback.replace('Pushframe._poll.', '')]({
      cursor: 'E~2',
      messages: [],
      resets: [],
      timeoutMs: 1000,
    });
    expect(c.cursor()).toBe('E~9');
    // The stream recycles: it has proven itself, no check this time.
    sinkOf(iframes()[iframes().length - 1]).r(0);
    await settle();
    await jest.advanceTimersByTimeAsync(10);
    expect(positionRequests()).toHaveLength(0);
    c.close();
    connect({ channels: ['c'], transports: ['iframe'], share: false });
    await settle();
    expect(positionRequests()).toHaveLength(0);
  });

  it('falls to long-poll pathCheckMs after the check poll is answered while the stream shows nothing (a buffering proxy)', async () => {
    const c = connect({ channels: ['a'], since: 'E~1', openTimeoutMs: 10000 });
    await settle();
    const q = streamParams(positionRequests()[0]);
    await jest.advanceTimersByTimeAsync(40);
    Pushframe._poll[q.callback.replace('Pushframe._poll.', '')]({ cursor: 'E~2', messages: [], resets: [], timeoutMs: 1000 });
    await jest.advanceTimersByTimeAsync(999);
    expect(c.transport).toBe('iframe');
    await jest.advanceTimersByTimeAsync(1);
    await settle();
    expect(c.transport).toBe('longpoll');
    expect(of('error')).toEqual([{ code: 'timeout', message: expect.stringMatching(/buffers streams/) }]);
    expect(onlyPoll().params.since).toBe('E~1');
  });

  it('gives a slow link twice the check poll time before deciding, and a stream that opens meanwhile stays', async () => {
    const c = connect({ channels: ['a'], since: 'E~1', openTimeoutMs: 10000 });
    await settle();
    const q = streamParams(positionRequests()[0]);
    await jest.advanceTimersByTimeAsync(1500); // a throttled link: the poll took 1.5 s
    Pushframe._poll[q.callback.replace('Pushframe._poll.', '')]({ cursor: 'E~2', messages: [], resets: [], timeoutMs: 1000 });
    await jest.advanceTimersByTimeAsync(2900);
    expect(c.transport).toBe('iframe');
    sinkOf(iframes()[0]).o('E~1', 20000); // the preamble and p.o arrive, late
    await jest.advanceTimersByTimeAsync(5000);
    expect(c.transport).toBe('iframe');
    expect(of('error')).toEqual([]);
    expect(of('open')).toHaveLength(1);
  });

  it('turns poll answers into open, reset and message events, and polls on with the cursor of each answer', async () => {
    const c = connect({ channels: ['a', 'b/*'], transports: ['longpoll'] });
    await settle();
    onlyPoll().answer({ cursor: 'E~5', messages: [], resets: [], timeoutMs: 1000 });
    expect(of('open')).toEqual([{ transport: 'longpoll', cursor: 'E~5', heartbeatMs: 1000 }]);
    // The next poll starts at once, with no timer between: a background tab's timers wait up to a second.
    let p = onlyPoll();
    expect(p.params.since).toBe('E~5');
    expect(p.params.callback).toMatch(/^Pushframe\._poll\.[A-Za-z0-9_]+$/);
    p.answer({
      cursor: 'E~5,a@7,b/x@8',
      messages: [
        ['a', '7', { n: 1 }],
        ['b/x', '8', '</script>'],
      ],
      resets: ['b/*'],
      timeoutMs: 1000,
    });
    expect(of('reset')).toEqual([{ channels: ['b/*'] }]);
    expect(gotData()).toEqual([{ n: 1 }, '</script>']);
    expect(c.cursor()).toBe('E~5,a@7,b/x@8');
    await settle();
    p = onlyPoll();
    expect(p.params.since).toBe('E~5,a@7,b/x@8');
    // A later answer with a compacted cursor (the base moved on) replaces the client's.
    p.answer({ cursor: 'E~9', messages: [['a', '9', 2]], resets: [], timeoutMs: 1000 });
    expect(c.cursor()).toBe('E~9');
    expect(of('open')).toHaveLength(1);
  });

  it('polls no more once a message handler closes the connection, and only for the new channels after it re-subscribes', async () => {
    const c = connect({ channels: ['a'], transports: ['longpoll'] });
    await settle();
    onlyPoll().answer({ cursor: 'E~1', messages: [], resets: [], timeoutMs: 1000 });
    const resubscribe = (): void => {
      Pushframe.unlisten(document, 'pushframe:message', resubscribe);
      c.subscribe('b');
    };
    Pushframe.listen(document, 'pushframe:message', resubscribe);
    onlyPoll().answer({ cursor: 'E~1,a@2', messages: [['a', '2', 1]], resets: [], timeoutMs: 1000 });
    await settle();
    expect(onlyPoll().params.channels).toBe('a,b');
    const close = (): void => c.close();
    Pushframe.listen(document, 'pushframe:message', close);
    onlyPoll().answer({ cursor: 'E~1,a@3', messages: [['a', '3', 2]], resets: [], timeoutMs: 1000 });
    Pushframe.unlisten(document, 'pushframe:message', close);
    await jest.advanceTimersByTimeAsync(5000);
    expect(polls()).toHaveLength(0);
    expect(c.state).toBe('closed');
  });

  it('treats a poll that never comes back as stalled after its hold time (timeoutMs) plus stallGraceMs, and polls again', async () => {
    connect({ channels: ['a'], transports: ['longpoll'] });
    await settle();
    onlyPoll().answer({ cursor: 'E~1', messages: [], resets: [], timeoutMs: 1000 });
    await settle();
    const stuck = onlyPoll().el;
    await jest.advanceTimersByTimeAsync(2990);
    expect(onlyPoll().el).toBe(stuck);
    await jest.advanceTimersByTimeAsync(10);
    expect(of('error')).toEqual([{ code: 'stalled', message: expect.any(String) }]);
    expect(polls()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(100);
    const next = onlyPoll();
    expect(next.el).not.toBe(stuck);
    expect(next.params.since).toBe('E~1');
  });

  it('retries with backoff when a poll script fails to load, keeping the cursor', async () => {
    connect({ channels: ['a'], transports: ['longpoll'] });
    await settle();
    onlyPoll().answer({ cursor: 'E~1,a@2', messages: [['a', '2', 'x']], resets: [], timeoutMs: 1000 });
    await settle();
    onlyPoll().el.dispatchEvent(new Event('error'));
    await settle();
    expect(of('error')).toEqual([{ code: 'disconnected', message: expect.any(String) }]);
    expect(polls()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(100);
    expect(onlyPoll().params.since).toBe('E~1,a@2');
  });

  it('counts a script that loaded without calling back (a proxy error page) as a failure', async () => {
    connect({ channels: ['a'], transports: ['longpoll'] });
    await settle();
    onlyPoll().el.dispatchEvent(new Event('load'));
    await settle();
    expect(of('error')).toEqual([{ code: 'disconnected', message: expect.any(String) }]);
  });

  it('ignores the late call of a poll it abandoned', async () => {
    const c = connect({ channels: ['a'], transports: ['longpoll'] });
    await settle();
    const first = onlyPoll();
    c.close();
    expect(polls()).toHaveLength(0);
    expect(() => first.answer({ cursor: 'E~1', messages: [['a', '1', 'late']], resets: [] })).not.toThrow();
    expect(gotData()).toEqual([]);
  });

  it('handles server errors in JSONP answers: bad_cursor starts afresh with a reset, fatal ones close', async () => {
    const c = connect({ channels: ['a'], transports: ['longpoll'], since: 'E~1,a@3' });
    await settle();
    expect(onlyPoll().params.since).toBe('E~1,a@3');
    onlyPoll().answer({ error: { code: 'bad_cursor', message: 'malformed' } });
    await settle();
    expect(of('error')).toEqual([{ code: 'bad_cursor', message: 'malformed' }]);
    expect(of('reset')).toEqual([{ channels: ['a'] }]);
    await jest.advanceTimersByTimeAsync(100);
    expect(onlyPoll().params.since).toBeUndefined();
    onlyPoll().answer({ error: { code: 'bad_pattern', message: 'no' } });
    await settle();
    expect(c.state).toBe('closed');
    expect(polls()).toHaveLength(0);
  });

  it('waits as asked by a reconnect answer (server shutdown) before polling again', async () => {
    connect({ channels: ['a'], transports: ['longpoll'] });
    await settle();
    onlyPoll().answer({ cursor: 'E~1', messages: [], resets: [], timeoutMs: 1000, reconnect: 700 });
    await afterScript();
    await jest.advanceTimersByTimeAsync(699);
    expect(polls()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(onlyPoll().params.since).toBe('E~1');
  });

  it('carries the cursor across the switch: a stream that opened, then goes silent behind a new proxy', async () => {
    const c = connect({ channels: ['a'] });
    await settle();
    const p = sinkOf(iframes()[0]);
    p.o('E~1', 1000);
    p.m('a', '2', 'on the stream');
    // The stream is cut; the retry never shows a byte (a buffering proxy appeared).
    iframes()[0].dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(100);
    expect(iframes()).toHaveLength(1);
    expect(streamParams(iframes()[0]).since).toBe('E~1,a@2');
    await jest.advanceTimersByTimeAsync(2000);
    await settle();
    expect(c.transport).toBe('longpoll');
    const poll = onlyPoll();
    expect(poll.params.since).toBe('E~1,a@2');
    poll.answer({ cursor: 'E~1,a@3', messages: [['a', '3', 'by poll']], resets: [], timeoutMs: 1000 });
    expect(gotData()).toEqual(['on the stream', 'by poll']);
    expect(transportsSeen()).toEqual(['iframe', 'longpoll']);
  });
});

describe('bridge ladder: probing the streams again', () => {
  async function fallBack(options: Record<string, unknown> = {}): Promise<Connection> {
    const c = connect({ channels: ['a'], reprobeMs: 5000, reprobeMaxMs: 12000, ...options });
    await jest.advanceTimersByTimeAsync(2000);
    await settle();
    onlyPoll().answer({ cursor: 'E~1', messages: [['a', '2', 'polled']], resets: [], timeoutMs: 1000 });
    await settle();
    expect(c.transport).toBe('longpoll');
    return c;
  }

  it('tries the stream again after reprobeMs and stays on it when it opens', async () => {
    const c = await fallBack();
    await jest.advanceTimersByTimeAsync(4980);
    expect(iframes()).toHaveLength(0);
    // Keep the polls answered meanwhile, as a live server does.
    onlyPoll().answer({ cursor: 'E~1,a@2', messages: [], resets: [], timeoutMs: 1000 });
    await jest.advanceTimersByTimeAsync(20);
    expect(polls()).toHaveLength(0);
    expect(iframes()).toHaveLength(1);
    expect(streamParams(iframes()[0]).since).toBe('E~1,a@2');
    sinkOf(iframes()[0]).o('E~2', 1000);
    expect(c.transport).toBe('iframe');
    expect(transportsSeen()).toEqual(['iframe', 'longpoll', 'iframe']);
    const live = sinkOf(iframes()[0]);
    for (let i = 0; i < 60; i++) {
      await jest.advanceTimersByTimeAsync(1000);
      live.h();
    }
    expect(c.transport).toBe('iframe');
    expect(iframes()).toHaveLength(1);
    expect(polls()).toHaveLength(0);
  });

  it('returns to long-poll at once when the probe shows nothing, and probes less often each time', async () => {
    const c = await fallBack();
    const probeAt: number[] = [];
    const start = Date.now();
    for (let i = 0; i < 4; i++) {
      let waited = 0;
      while (iframes().length === 0 && waited < 60000) {
        await jest.advanceTimersByTimeAsync(100);
        waited += 100;
        // Answer every waiting poll at once, empty.
        for (const s of polls()) {
          const name = streamParams(s).callback.replace('Pushframe._poll.', '');
          Pushframe._poll[name]({ cursor: 'E~1,a@2', messages: [], resets: [], timeoutMs: 1000 });
        }
      }
      probeAt.push(Date.now() - start);
      expect(c.transport).toBe('iframe');
      await jest.advanceTimersByTimeAsync(2000); // nothing from the probe
      await settle();
      expect(c.transport).toBe('longpoll');
      expect(onlyPoll().params.since).toBe('E~1,a@2');
    }
    const gaps = probeAt.map((t, i) => t - (i === 0 ? 0 : probeAt[i - 1] + 2000));
    // The probe timer starts when polling opens; the loop steps 100 ms at a time.
    const near = (gap: number, want: number): void => {
      expect(gap).toBeGreaterThanOrEqual(want - 300);
      expect(gap).toBeLessThanOrEqual(want + 300);
    };
    near(gaps[0], 5000);
    near(gaps[1], 10000);
    near(gaps[2], 12000); // capped at reprobeMaxMs
    near(gaps[3], 12000);
    expect(transportsSeen()).toEqual([
      'iframe',
      'longpoll',
      'iframe',
      'longpoll',
      'iframe',
      'longpoll',
      'iframe',
      'longpoll',
      'iframe',
      'longpoll',
    ]);
  });

  it('does not probe when reprobeMs is 0, nor after close', async () => {
    const c = await fallBack({ reprobeMs: 0 });
    for (let i = 0; i < 20; i++) {
      await jest.advanceTimersByTimeAsync(1000);
      for (const s of polls()) {
        const name = streamParams(s).callback.replace('Pushframe._poll.', '');
        Pushframe._poll[name]({ cursor: 'E~1', messages: [], resets: [], timeoutMs: 1000 });
      }
    }
    expect(iframes()).toHaveLength(0);
    c.close();
    await jest.advanceTimersByTimeAsync(120000);
    expect(iframes()).toHaveLength(0);
    expect(polls()).toHaveLength(0);
  });
});

describe('bridge: the opt-in sse transport', () => {
  class FakeEventSource {
    static all: FakeEventSource[] = [];
    readyState = 1;
    closed = false;
    onmessage: ((ev: { data: string }) => void) | null = null;
    onerror: (() => void) | null = null;
    private listeners: Record<string, ((ev: { data: string }) => void)[]> = {};
    constructor(readonly url: string) {
      FakeEventSource.all.push(this);
    }
    addEventListener(type: string, fn: (ev: { data: string }) => void): void {
      (this.listeners[type] ??= []).push(fn);
    }
    emit(type: string, data: string): void {
      if (type === 'message') this.onmessage?.({ data });
      else for (const fn of this.listeners[type] ?? []) fn({ data });
    }
    close(): void {
      this.closed = true;
      this.readyState = 2;
    }
  }
  const w = window as unknown as { EventSource?: unknown };

  beforeEach(() => {
    FakeEventSource.all = [];
    w.EventSource = FakeEventSource;
  });
  afterEach(() => {
    delete w.EventSource;
  });

  const live = (): FakeEventSource => {
    const open = FakeEventSource.all.filter((e) => !e.closed);
    expect(open).toHaveLength(1);
    return open[0];
  };
  const since = (es: FakeEventSource): string | null => new URL(es.url, 'http://localhost/').searchParams.get('since');

  it('is used only when asked for, and maps events to the protocol', async () => {
    connect({ channels: ['a'] });
    await settle();
    expect(FakeEventSource.all).toHaveLength(0);
    const c = connect({ channels: ['a', 'b'], transports: ['sse', 'iframe'] });
    await settle();
    const es = live();
    expect(new URL(es.url, 'http://localhost/').pathname).toBe('/pushframe/events');
    es.emit('ready', '{"cursor":"E~1","heartbeatMs":1000}');
    es.emit('reset', '["b"]');
    es.emit('message', '{"channel":"a","id":"2","data":{"x":"</script>"}}');
    expect(c.transport).toBe('sse');
    expect(of('open')).toContainEqual({ transport: 'sse', cursor: 'E~1', heartbeatMs: 1000 });
    expect(of('reset')).toEqual([{ channels: ['b'] }]);
    expect(gotData()).toEqual([{ x: '</script>' }]);
    expect(c.cursor()).toBe('E~1,a@2');
  });

  it('stays alive on heartbeat events; silence on a connection EventSource still holds open is a stall', async () => {
    const c = connect({ channels: ['a'], transports: ['sse'] });
    await settle();
    const es = live();
    es.emit('ready', '{"cursor":"E~1","heartbeatMs":1000}');
    for (let i = 0; i < 10; i++) {
      await jest.advanceTimersByTimeAsync(1000);
      es.emit('heartbeat', '{}');
    }
    expect(live()).toBe(es);
    expect(of('error')).toEqual([]);
    expect(c.state).toBe('open');
    // The path dies; EventSource does not notice (readyState stays OPEN), the watchdog does.
    await jest.advanceTimersByTimeAsync(1000 + 2000 + 100);
    expect(of('error')).toEqual([expect.objectContaining({ code: 'stalled' })]);
    expect(es.closed).toBe(true);
    await settle();
    expect(since(live())).toBe('E~1');
  });

  it('takes checkpoints, and reconnects itself with its cursor on a planned end and after an error', async () => {
    const c = connect({ channels: ['a'], transports: ['sse'] });
    await settle();
    let es = live();
    es.emit('ready', '{"cursor":"E~1","heartbeatMs":1000}');
    es.emit('message', '{"channel":"a","id":"2","data":1}');
    es.emit('checkpoint', '{"cursor":"E~2"}');
    expect(c.cursor()).toBe('E~2');
    es.emit('reconnect', '0');
    await afterScript();
    expect(es.closed).toBe(true);
    es = live();
    expect(since(es)).toBe('E~2');
    es.emit('ready', '{"cursor":"E~2","heartbeatMs":1000}');
    es.onerror?.();
    await settle();
    expect(es.closed).toBe(true);
    expect(of('error')).toEqual([{ code: 'disconnected', message: expect.any(String) }]);
    await jest.advanceTimersByTimeAsync(100);
    expect(since(live())).toBe('E~2');
  });
});
