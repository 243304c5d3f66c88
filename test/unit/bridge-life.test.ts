/** @jest-environment jsdom */
import { BRIDGE_SOURCE, afterScript, frameCallbacks, loadBridge, onlyStreamFrame, streamFrames, streamParams, type Connection, type FrameCallbacks, type PushframeGlobal } from '../helpers/bridge';

/**
 * The bridge in a page's life (fake timers): connect() at any moment of the page's
 * loading, the default watchdog, and the checks after sleep, on coming back online and
 * when the page becomes visible.
 */

type Global = PushframeGlobal & { _poll: Record<string, (answer: unknown) => void> };

let Pushframe: Global;
let conns: Connection[];
let seen: { type: string; detail: unknown }[];
let readyState: string;
const EVENTS = ['message', 'open', 'reset', 'transport', 'error', 'close'].map((n) => 'pushframe:' + n);
const record = (ev: { type: string; detail: unknown }): void => {
  seen.push({ type: ev.type.replace('pushframe:', ''), detail: ev.detail });
};
const of = (type: string): unknown[] => seen.filter((s) => s.type === type).map((s) => s.detail);

const frames = (): HTMLIFrameElement[] => streamFrames();
const scripts = (): HTMLScriptElement[] =>
  Array.from(document.getElementsByTagName('script')).filter((s) => s.src.indexOf('/poll?') !== -1);

const only = (): HTMLIFrameElement => onlyStreamFrame();
const sinkOf = (iframe: HTMLIFrameElement): FrameCallbacks => frameCallbacks(Pushframe, iframe);

function connect(options: Record<string, unknown>): Connection {
  const c = Pushframe.connect(options);
  conns.push(c);
  return c;
}

/** Loads the bridge while the document is in `state` (as if its <script src> ran then). */
function load(state: string): void {
  readyState = state;
  Pushframe = loadBridge(window) as Global;
  for (const t of EVENTS) Pushframe.listen(document, t, record);
}

beforeEach(() => {
  jest.useFakeTimers();
  seen = [];
  conns = [];
  readyState = 'complete';
  Object.defineProperty(document, 'readyState', { configurable: true, get: () => readyState });
});

afterEach(() => {
  for (const c of conns) c.close();
  if (Pushframe) for (const t of EVENTS) Pushframe.unlisten(document, t, record);
  delete (window as { Pushframe?: unknown }).Pushframe;
  delete (document as unknown as Record<string, unknown>).readyState;
  jest.useRealTimers();
});

describe('connect() at any moment of the page', () => {
  it('loaded in <head>, called after load (a click handler a second later): starts at once', async () => {
    load('loading');
    readyState = 'interactive';
    document.dispatchEvent(new Event('DOMContentLoaded'));
    readyState = 'complete';
    window.dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(1000);
    const button = document.createElement('button');
    button.addEventListener('click', () => {
      connect({ channels: ['late'] });
    });
    document.body.appendChild(button);
    button.click();
    expect(frames()).toHaveLength(0); // never inside connect()
    await jest.advanceTimersByTimeAsync(0);
    expect(streamParams(only()).channels).toBe('late');
    expect(of('transport')).toEqual([{ name: 'iframe' }]);
    button.remove();
  });

  it('loaded before load, called after load when this copy never saw the load event', async () => {
    load('loading');
    // The load event passed without reaching the bridge's listener (say it ran in a
    // handler that stopped propagation on window); readyState tells the truth.
    readyState = 'complete';
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(frames()).toHaveLength(1);
  });

  it('called before DOMContentLoaded and between it and load: waits for load, then starts', async () => {
    load('loading');
    connect({ channels: ['early'] });
    readyState = 'interactive';
    document.dispatchEvent(new Event('DOMContentLoaded'));
    connect({ channels: ['middle'] });
    await jest.advanceTimersByTimeAsync(2000);
    expect(frames()).toHaveLength(0);
    readyState = 'complete';
    window.dispatchEvent(new Event('load'));
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(0);
    // Both connections of the page share one stream (docs/bridge.md, "Many tabs, one stream").
    expect(frames().map((f) => streamParams(f).channels)).toEqual(['early,middle']);
  });

  it('a bridge script inserted after load starts streams at once', async () => {
    load('complete');
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(frames()).toHaveLength(1);
  });

  it('connects again after an earlier connection was closed, and runs several connections side by side', async () => {
    load('loading');
    readyState = 'complete';
    window.dispatchEvent(new Event('load'));
    const first = connect({ channels: ['one'] });
    await jest.advanceTimersByTimeAsync(0);
    first.close();
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(5000);
    connect({ channels: ['two'] });
    connect({ channels: ['three'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(frames().map((f) => streamParams(f).channels)).toEqual(['two,three']); // one shared stream
    for (const f of frames()) sinkOf(f).o('E~1', 5000);
    expect(of('open')).toHaveLength(2);
  });

  it('without readyState (very old engines) does not wait for a load event it cannot know about', async () => {
    readyState = undefined as unknown as string;
    load(readyState);
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(frames()).toHaveLength(1);
  });
});

describe('the default watchdog', () => {
  beforeEach(() => load('complete'));

  it('reports a stream silent for the server heartbeat (4 s) + stallGraceMs (2 s) as stalled, then resumes with its cursor', async () => {
    const c = connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    const p = sinkOf(first);
    p.o('E~1', 4000);
    p.m('a', '2', 'x');
    await jest.advanceTimersByTimeAsync(4000);
    p.h();
    await jest.advanceTimersByTimeAsync(5999);
    expect(only()).toBe(first);
    expect(of('error')).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(frames()).toHaveLength(0);
    expect(of('error')).toEqual([{ code: 'stalled', message: expect.stringMatching(/No data from the server for 6000 ms/) }]);
    expect(c.state).toBe('reconnecting');
    // The first retry after an open stream waits 0.5-1 s (backoffMinMs 1 s, jittered).
    await jest.advanceTimersByTimeAsync(1000);
    const second = only();
    expect(streamParams(second).since).toBe('E~1,a@2');
    sinkOf(second).o('E~1,a@2', 4000);
    expect(of('open')).toHaveLength(2);
    expect(c.state).toBe('open');
  });

  it('names the stream it gave up on in the next one (replaces=), so the server can end it', async () => {
    connect({ channels: ['a'], transports: ['iframe'] });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    expect(streamParams(first).replaces).toBeUndefined();
    sinkOf(first).o('E~1', 4000, 'T'.repeat(22));
    await jest.advanceTimersByTimeAsync(6000 + 1000);
    expect(of('error')).toEqual([expect.objectContaining({ code: 'stalled' })]);
    const second = only();
    expect(streamParams(second).replaces).toBe('T'.repeat(22));
    // A stream that never opened told no token: its retry names the same one.
    await jest.advanceTimersByTimeAsync(10_000 + 4000);
    const third = only();
    expect(third).not.toBe(second);
    expect(streamParams(third).replaces).toBe('T'.repeat(22));
    // Once the new stream opened, it is the one named; a server without tokens, none.
    sinkOf(third).o('E~1', 4000, 'U'.repeat(22));
    await jest.advanceTimersByTimeAsync(6000 + 1000);
    const fourth = only();
    expect(streamParams(fourth).replaces).toBe('U'.repeat(22));
    sinkOf(fourth).o('E~1', 4000);
    await jest.advanceTimersByTimeAsync(6000 + 1000);
    expect(streamParams(only()).replaces).toBeUndefined();
  });

  it('after an open stream\'s path died, proves the path again: a retry that shows nothing falls to long-poll, whose first poll names the dead stream', async () => {
    connect({ channels: ['a'], transports: ['iframe', 'longpoll'] });
    await jest.advanceTimersByTimeAsync(0);
    // The poll beside the first stream gives the connection a position; once the stream
    // opened, reconnects send none.
    for (const s of scripts()) s.remove();
    sinkOf(only()).o('E~1', 4000, 'T'.repeat(22));
    // Stalled (4 s + 2 s), then a retry within 1 s: with a poll beside it again.
    await jest.advanceTimersByTimeAsync(6000 + 1000);
    const stalled = expect.objectContaining({ code: 'stalled' });
    expect(of('error')).toEqual([stalled]);
    const [check] = scripts();
    expect(streamParams(check).since).toBeUndefined(); // answered at once
    expect(streamParams(check).replaces).toBeUndefined();
    Pushframe._poll[streamParams(check).callback.replace('Pushframe._poll.', '')]({ cursor: 'E~1', messages: [], resets: [], timeoutMs: 25000 });
    // The stream shows nothing for pathCheckMs (1 s) after the answer: long-poll.
    await jest.advanceTimersByTimeAsync(999);
    expect(frames()).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(of('error')).toEqual([stalled, { code: 'timeout', message: expect.stringMatching(/buffers streams/) }]);
    await jest.advanceTimersByTimeAsync(1); // a timer set during a fake tick with 0 ms runs 1 ms later
    expect(frames()).toHaveLength(0);
    const [poll] = scripts();
    expect(streamParams(poll)).toMatchObject({ open: '1', replaces: 'T'.repeat(22), since: 'E~1' });
    Pushframe._poll[streamParams(poll).callback.replace('Pushframe._poll.', '')]({ cursor: 'E~2', messages: [], resets: [], timeoutMs: 25000 });
    await jest.advanceTimersByTimeAsync(4);
    const [next] = scripts();
    expect(next).not.toBe(poll);
    expect(streamParams(next).replaces).toBeUndefined();
  });

  it('a stream the server ended itself (p.r, p.e) is not named by the next one, which gets no poll beside it', async () => {
    connect({ channels: ['a'], transports: ['iframe', 'longpoll'] });
    await jest.advanceTimersByTimeAsync(0);
    for (const s of scripts()) s.remove();
    sinkOf(only()).o('E~1', 4000, 'T'.repeat(22));
    sinkOf(only()).r(0);
    await afterScript();
    await jest.advanceTimersByTimeAsync(100);
    expect(scripts()).toHaveLength(0);
    expect(streamParams(only()).replaces).toBeUndefined();
    sinkOf(only()).o('E~1', 4000, 'U'.repeat(22));
    sinkOf(only()).e('internal', 'Something failed on the server.');
    await jest.advanceTimersByTimeAsync(2000);
    expect(of('error')).toEqual([expect.objectContaining({ code: 'internal' })]);
    expect(streamParams(only()).replaces).toBeUndefined();
  });

  it('gives a connecting stream openTimeoutMs (10 s) before it counts as a timeout', async () => {
    connect({ channels: ['a'], transports: ['iframe'] });
    await jest.advanceTimersByTimeAsync(9999);
    expect(of('error')).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(of('error')).toEqual([{ code: 'timeout', message: expect.any(String) }]);
  });
});

describe('checks on wake, online and visibility', () => {
  beforeEach(() => load('complete'));

  it('after the machine slept, checks at once: the stream is stalled by the wall clock', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E~1', 4000);
    await jest.advanceTimersByTimeAsync(2000);
    // Suspend: the clock moves on, no timer runs. Then one pulse after waking.
    jest.setSystemTime(Date.now() + 60_000);
    await jest.advanceTimersByTimeAsync(1000);
    expect(of('error')).toEqual([{ code: 'stalled', message: expect.stringMatching(/the machine slept/) }]);
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1000);
    expect(frames()).toHaveLength(1);
  });

  it('after a short sleep a stream that is still within its limit is kept', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    sinkOf(first).o('E~1', 5000);
    jest.setSystemTime(Date.now() + 4000);
    await jest.advanceTimersByTimeAsync(1000);
    expect(of('error')).toEqual([]);
    expect(only()).toBe(first);
  });

  it('coming back online replaces the open stream at once, resuming from its cursor', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E~1', 4000);
    p.m('a', '2', 'x');
    window.dispatchEvent(new Event('online'));
    expect(of('error')).toEqual([{ code: 'network_changed', message: expect.any(String) }]);
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1000);
    expect(streamParams(only()).since).toBe('E~1,a@2');
  });

  it('coming back online or waking up ends a long backoff wait at once', async () => {
    const c = connect({ channels: ['a'], transports: ['iframe'], backoffMinMs: 30000, backoffMaxMs: 30000 });
    await jest.advanceTimersByTimeAsync(0);
    only().dispatchEvent(new Event('load')); // the stream failed: a 15-30 s wait follows
    await jest.advanceTimersByTimeAsync(0);
    expect(c.state).toBe('reconnecting');
    expect(frames()).toHaveLength(0);
    window.dispatchEvent(new Event('online'));
    await jest.advanceTimersByTimeAsync(0);
    expect(frames()).toHaveLength(1);
    only().dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(0);
    expect(frames()).toHaveLength(0);
    jest.setSystemTime(Date.now() + 120_000);
    await jest.advanceTimersByTimeAsync(1000); // the first pulse after waking
    await jest.advanceTimersByTimeAsync(4); // jsdom clamps a timer set inside a timer to 4 ms
    expect(frames()).toHaveLength(1);
  });

  it('when the page becomes visible, a stream silent past its limit (throttled timers) is stalled at once', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    sinkOf(only()).o('E~1', 5000);
    // A hidden tab's timers lag; the wall clock does not.
    jest.setSystemTime(Date.now() + 7000);
    document.dispatchEvent(new Event('visibilitychange'));
    expect(of('error')).toEqual([{ code: 'stalled', message: expect.any(String) }]);
  });

  it('notices within a second a same-origin stream document that stopped loading without a load event (Firefox after a cut)', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const iframe = only();
    sinkOf(iframe).o('E~1', 4000);
    const doc = iframe.contentWindow!.document;
    let state = 'loading';
    Object.defineProperty(doc, 'URL', { configurable: true, get: () => iframe.src });
    Object.defineProperty(doc, 'readyState', { configurable: true, get: () => state });
    await jest.advanceTimersByTimeAsync(2000);
    expect(of('error')).toEqual([]); // still loading: alive
    state = 'interactive';
    await jest.advanceTimersByTimeAsync(1000);
    await jest.advanceTimersByTimeAsync(4);
    expect(of('error')).toEqual([{ code: 'disconnected', message: expect.any(String) }]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(streamParams(only()).since).toBe('E~1');
  });

  it('does not take the blank document a frame starts with for an ended stream', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    sinkOf(only()).o('E~1', 4000); // jsdom's frame document is about:blank, complete
    await jest.advanceTimersByTimeAsync(5000);
    expect(of('error')).toEqual([]);
  });

  it('leaves no pulse running once every connection is closed', async () => {
    const c = connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(jest.getTimerCount()).toBeGreaterThan(0);
    c.close();
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('the nonce on elements a CSP checks', () => {
  it('puts the nonce option on every JSONP script: the position request and each poll', async () => {
    load('complete');
    connect({ channels: ['a'], nonce: 'n0nce-Value_123456' });
    await jest.advanceTimersByTimeAsync(0);
    const position = scripts();
    expect(position).toHaveLength(1);
    expect(position[0].getAttribute('nonce')).toBe('n0nce-Value_123456');
    conns[0].close();
    connect({ channels: ['a'], transports: ['longpoll'], nonce: 'n0nce-Value_123456' });
    await jest.advanceTimersByTimeAsync(0);
    const [poll] = scripts();
    expect(poll.getAttribute('nonce')).toBe('n0nce-Value_123456');
    expect(streamParams(poll).open).toBe('1'); // the first poll is the attempt's open
    Pushframe._poll[streamParams(poll).callback.replace('Pushframe._poll.', '')]({ cursor: 'E~1', messages: [], resets: [], timeoutMs: 25000 });
    await jest.advanceTimersByTimeAsync(4);
    const [next] = scripts();
    expect(next.getAttribute('nonce')).toBe('n0nce-Value_123456');
    expect(streamParams(next).open).toBeUndefined();
  });

  it('without the option, uses the nonce of the script element that loaded the bridge', async () => {
    delete (window as { Pushframe?: unknown }).Pushframe;
    const el = document.createElement('script');
    el.setAttribute('nonce', 'fr0m-the-tag-123456');
    el.textContent = BRIDGE_SOURCE;
    document.head.appendChild(el);
    Pushframe = (window as unknown as { Pushframe: Global }).Pushframe;
    expect(Pushframe).toBeDefined();
    connect({ channels: ['a'], transports: ['longpoll'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(scripts()[0].getAttribute('nonce')).toBe('fr0m-the-tag-123456');
    el.remove();
  });

  it('sets no nonce when there is none', async () => {
    load('complete');
    connect({ channels: ['a'], transports: ['longpoll'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(scripts()[0].hasAttribute('nonce')).toBe(false);
  });
});
