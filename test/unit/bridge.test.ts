/** @jest-environment jsdom */
import { afterScript, frameCallbacks, loadBridge, onlyStreamFrame, streamFrames, streamParams, type Connection, type FrameCallbacks, type PushframeGlobal } from '../helpers/bridge';

interface Seen {
  type: string;
  detail: unknown;
}

let Pushframe: PushframeGlobal;
let keysBefore: Set<string>;
let seen: Seen[];
let conns: Connection[];

const EVENTS = ['message', 'open', 'reset', 'transport', 'error', 'close'].map((n) => 'pushframe:' + n);
const record = (ev: { type: string; detail: unknown }): void => {
  seen.push({ type: ev.type, detail: ev.detail });
};

const frames = streamFrames;
const only = onlyStreamFrame;
const sinkOf = (iframe: HTMLIFrameElement): FrameCallbacks => frameCallbacks(Pushframe, iframe);

function connect(options: Record<string, unknown>): Connection {
  const c = Pushframe.connect(options);
  conns.push(c);
  return c;
}

/** What a browser shows for a JSON error response in a frame: the text in a <pre>. */
function errorDocument(iframe: HTMLIFrameElement, json: string): void {
  const doc = iframe.contentWindow!.document;
  const html = doc.documentElement ?? doc.appendChild(doc.createElement('html'));
  const body = doc.body ?? html.appendChild(doc.createElement('body'));
  const pre = doc.createElement('pre');
  pre.textContent = json;
  body.appendChild(pre);
}

const types = (): string[] => seen.map((s) => s.type.replace('pushframe:', ''));

beforeEach(() => {
  jest.useFakeTimers();
  keysBefore = new Set(Object.keys(window));
  Pushframe = loadBridge(window);
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

describe('bridge: messages as DOM events and callbacks', () => {
  it('starts one hidden forever frame for all channels after load', async () => {
    connect({ channels: ['a', 'b/*'] });
    expect(frames()).toHaveLength(0); // never from inside connect(): after load, on a timer
    await jest.advanceTimersByTimeAsync(0);
    const iframe = only();
    const q = streamParams(iframe);
    expect(iframe.src.startsWith('/pushframe/stream?') || iframe.src.startsWith('http://localhost/pushframe/stream?')).toBe(true);
    expect(q.channels).toBe('a,b/*');
    expect(q.t).toBe('iframe');
    expect(q.f).toMatch(/^[A-Za-z0-9_]{1,32}$/);
    expect(q.since).toBeUndefined();
    expect(q.origin).toBeUndefined();
    expect(iframe.style.visibility).toBe('hidden');
    expect(types()).toEqual(['transport']);
    expect(seen[0].detail).toEqual({ name: 'iframe' });
  });

  it('dispatches every message in order with { channel, id, data }, and calls matching handlers', async () => {
    // Unshared: the stream's own delivery, which trusts the server's matching (a shared
    // connection also filters by its own patterns; test/unit/bridge-share.test.ts).
    const c = connect({ channels: ['a', 'b/*'], since: 'E1~3', share: false });
    const calls: string[] = [];
    c.on('a', (data, meta) => calls.push('a:' + meta.id + ':' + JSON.stringify(data)));
    c.on('b/*', (_d, meta) => calls.push('b/*:' + meta.channel));
    c.on('*', (_d, meta) => calls.push('*:' + meta.channel));
    c.on('b/**', (_d, meta) => calls.push('b/**:' + meta.channel));
    const lifecycle: string[] = [];
    c.listen('open', (d) => lifecycle.push('open ' + JSON.stringify(d)));
    c.listen('message', (d) => lifecycle.push('message ' + JSON.stringify(d)));
    await jest.advanceTimersByTimeAsync(0);
    const iframe = only();
    expect(streamParams(iframe).since).toBe('E1~3');
    const p = sinkOf(iframe);
    p.o('E1~5', 1000);
    p.m('a', '6', { x: 1 }, 'b/c', '7', [1, '</script>']);
    p.m('b/c/d', '8', null);
    expect(types()).toEqual(['transport', 'open', 'message', 'message', 'message']);
    expect(seen[1].detail).toEqual({ transport: 'iframe', cursor: 'E1~5', heartbeatMs: 1000 });
    expect(seen.slice(2).map((s) => s.detail)).toEqual([
      { channel: 'a', id: '6', data: { x: 1 } },
      { channel: 'b/c', id: '7', data: [1, '</script>'] },
      { channel: 'b/c/d', id: '8', data: null },
    ]);
    expect(calls).toEqual(['a:6:{"x":1}', '*:a', 'b/*:b/c', '*:b/c', 'b/**:b/c', '*:b/c/d', 'b/**:b/c/d']);
    expect(lifecycle[0]).toBe('open {"transport":"iframe","cursor":"E1~5","heartbeatMs":1000}');
    expect(lifecycle).toHaveLength(4);
    expect(c.cursor()).toBe('E1~5,a@6,b/c@7,b/c/d@8');
  });

  it('off removes handlers; a throwing handler costs nobody else the message', async () => {
    const c = connect({ channels: ['a'] });
    const got: unknown[] = [];
    const bad = (): void => {
      throw new Error('page bug');
    };
    const good = (d: unknown): void => {
      got.push(d);
    };
    c.on('a', bad).on('a', good);
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E~1', 1000);
    p.m('a', '2', 1);
    expect(got).toEqual([1]);
    await expect(jest.advanceTimersByTimeAsync(0)).rejects.toThrow('page bug'); // rethrown on its own stack
    c.off('a', bad);
    p.m('a', '3', 2);
    await jest.advanceTimersByTimeAsync(0);
    expect(got).toEqual([1, 2]);
    c.off('a');
    p.m('a', '4', 3);
    expect(got).toEqual([1, 2]);
    expect(seen.filter((s) => s.type === 'pushframe:message')).toHaveLength(3);
  });

  it('dispatches on the target element (by id), bubbling to document', async () => {
    const el = document.createElement('div');
    el.id = 'ticker';
    document.body.appendChild(el);
    const onEl: unknown[] = [];
    el.addEventListener('pushframe:message', (ev) => onEl.push((ev as CustomEvent).detail));
    connect({ channels: ['a'], target: 'ticker' });
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E~1', 1000);
    p.m('a', '2', 'hi');
    expect(onEl).toEqual([{ channel: 'a', id: '2', data: 'hi' }]);
    expect(seen.filter((s) => s.type === 'pushframe:message')).toHaveLength(1);
    el.remove();
  });

  it('keeps __proto__, constructor, hasOwnProperty and toString as ordinary channels in its cursor, and replaces it on a checkpoint', async () => {
    const names = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'];
    const c = connect({ channels: names, backoffMinMs: 100, backoffMaxMs: 100 });
    const got: string[] = [];
    c.on('*', (_d, meta) => got.push(meta.channel + '@' + meta.id));
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    const p = sinkOf(first);
    p.o('E1~10', 1000);
    let id = 10;
    for (let round = 0; round < 3; round++) for (const n of names) p.m(n, String(++id), round);
    expect(got).toHaveLength(12);
    expect(c.cursor()).toBe('E1~10,__proto__@19,constructor@20,hasOwnProperty@21,toString@22');
    // A checkpoint replaces the whole cursor: the entries it covers are gone.
    p.c('E1~22');
    expect(c.cursor()).toBe('E1~22');
    p.m('__proto__', '23', 'x');
    expect(c.cursor()).toBe('E1~22,__proto__@23');
    first.dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(200);
    expect(streamParams(only()).since).toBe('E1~22,__proto__@23');
  });

  it('reads p.j data as JSON text: a __proto__ key stays an ordinary property', async () => {
    const c = connect({ channels: ['a'] });
    const got: unknown[] = [];
    c.on('a', (d) => got.push(d));
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E~1', 1000);
    p.j('a', '2', '{"__proto__":{"polluted":1},"k":[{"__proto__":null}]}', 'a', '3', 'not json');
    const d = got[0] as Record<string, unknown>;
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(d, '__proto__')).toBe(true);
    expect((d as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(d)).toBe('{"__proto__":{"polluted":1},"k":[{"__proto__":null}]}');
    expect(got[1]).toBeNull();
    expect(c.cursor()).toBe('E~1,a@3');
  });

  it('copies data out of the frame realm', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const helper = document.createElement('iframe');
    document.body.appendChild(helper);
    const foreign = (helper.contentWindow as unknown as { eval(s: string): unknown }).eval('({ list: [1, { deep: [2] }] })') as {
      list: unknown[];
    };
    expect(foreign.list instanceof Array).toBe(false);
    const got: { list: unknown[] }[] = [];
    conns[0].on('a', (d) => got.push(d as { list: unknown[] }));
    const p = sinkOf(only());
    p.o('E~1', 1000);
    p.m('a', '2', foreign);
    expect(got[0]).toEqual({ list: [1, { deep: [2] }] });
    expect(got[0].list instanceof Array).toBe(true);
    expect(got[0]).not.toBe(foreign);
    helper.remove();
  });
});

describe('bridge: resume, reset, recycle, watchdog, backoff', () => {
  it('resumes after a dropped stream with the last id of every channel as since', async () => {
    connect({ channels: ['a', 'b'], backoffMinMs: 100, backoffMaxMs: 1000 });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    const p = sinkOf(first);
    p.o('E1~10,b@9', 1000);
    p.m('a', '11', 1, 'b', '12', 2);
    p.m('a', '13', 3);
    // The stream ends without p.r / p.e: the frame's document finished loading.
    first.dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(0);
    expect(frames()).toHaveLength(0);
    expect(Pushframe._frame(streamParams(first).f)).toBeNull();
    const err = seen.find((s) => s.type === 'pushframe:error');
    expect(err?.detail).toEqual({ code: 'disconnected', message: 'The stream ended unexpectedly.' });
    await jest.advanceTimersByTimeAsync(100); // equal jitter: between 50 and 100 ms
    const second = only();
    expect(second).not.toBe(first);
    expect(streamParams(second).since).toBe('E1~10,b@12,a@13');
    expect(streamParams(second).f).not.toBe(streamParams(first).f);
    // The stale frame's callbacks no longer reach the page.
    const before = seen.length;
    p.m('a', '99', 'stale');
    expect(seen.length).toBe(before);
    const p2 = sinkOf(second);
    p2.o('E1~13', 1000);
    p2.m('a', '14', 4);
    expect(seen.filter((s) => s.type === 'pushframe:message').map((s) => (s.detail as { id: string }).id)).toEqual([
      '11',
      '12',
      '13',
      '14',
    ]);
    expect(types().filter((t) => t === 'open')).toHaveLength(2);
  });

  it('surfaces p.x as a reset event and lifecycle', async () => {
    const c = connect({ channels: ['a', 'b/*'], since: 'old~1' });
    const resets: unknown[] = [];
    c.listen('reset', (d) => resets.push(d));
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E2~40', 1000);
    p.x('a', 'b/*');
    expect(resets).toEqual([{ channels: ['a', 'b/*'] }]);
    expect(seen.find((s) => s.type === 'pushframe:reset')?.detail).toEqual({ channels: ['a', 'b/*'] });
  });

  it('recycles on p.r(delay): a new frame after the delay, with the cursor, no error', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    const p = sinkOf(first);
    p.o('E~5', 1000);
    p.m('a', '6', 'x');
    p.r(500);
    expect(frames()).toHaveLength(1); // torn down after the frame's script returns
    await afterScript();
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(499);
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(streamParams(only()).since).toBe('E~5,a@6');
    expect(types()).not.toContain('error');
  });

  it('on p.r(0), opens the next frame once the frame script has returned, without waiting for a timer', async () => {
    // A background tab's timers wait up to a second; a recycle must not.
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    const p = sinkOf(first);
    p.o('E~5', 1000);
    p.m('a', '6', 'x');
    p.r(0);
    expect(only()).toBe(first);
    await afterScript();
    const next = only();
    expect(next).not.toBe(first);
    expect(streamParams(next).since).toBe('E~5,a@6');
    expect(types()).toEqual(['transport', 'open', 'message']);
  });

  it('a connection closed while a recycle waits for the frame script opens nothing more', async () => {
    const c = connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E~5', 1000);
    p.r(0);
    c.close();
    await afterScript();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(frames()).toHaveLength(0);
    expect(c.state).toBe('closed');
  });

  it('with the older heartbeatTimeoutFactor option, reports a stream quiet for factor x the announced interval as stalled', async () => {
    connect({ channels: ['a'], heartbeatTimeoutFactor: 2, backoffMinMs: 1000, backoffMaxMs: 1000 });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    const p = sinkOf(first);
    p.o('E~1', 1000);
    await jest.advanceTimersByTimeAsync(1900);
    p.h(); // a heartbeat keeps it alive
    await jest.advanceTimersByTimeAsync(1900);
    p.m('a', '2', 'x'); // so does a message
    await jest.advanceTimersByTimeAsync(1999);
    expect(only()).toBe(first);
    expect(types()).not.toContain('error');
    await jest.advanceTimersByTimeAsync(1);
    expect(frames()).toHaveLength(0);
    expect(seen.find((s) => s.type === 'pushframe:error')?.detail).toMatchObject({ code: 'stalled' });
    await jest.advanceTimersByTimeAsync(1000);
    expect(streamParams(only()).since).toBe('E~1,a@2');
  });

  it('gives up on an attempt that never opens after openTimeoutMs', async () => {
    connect({ channels: ['a'], transports: ['iframe'], openTimeoutMs: 3000, backoffMinMs: 10, backoffMaxMs: 10 });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    await jest.advanceTimersByTimeAsync(2999);
    expect(only()).toBe(first);
    await jest.advanceTimersByTimeAsync(1);
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(10);
    expect(only()).not.toBe(first);
  });

  it('backs off exponentially with jitter, capped, and resets once a stream opens', async () => {
    const spy = jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    try {
      connect({ channels: ['a'], transports: ['iframe'], backoffMinMs: 100, backoffMaxMs: 1000, openTimeoutMs: 60000 });
      await jest.advanceTimersByTimeAsync(0);
      const delays: number[] = [];
      for (let i = 0; i < 6; i++) {
        only().dispatchEvent(new Event('load'));
        await jest.advanceTimersByTimeAsync(0);
        let waited = 0;
        while (frames().length === 0 && waited < 5000) {
          await jest.advanceTimersByTimeAsync(10);
          waited += 10;
        }
        delays.push(waited);
      }
      expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
      sinkOf(only()).o('E~1', 1000);
      only().dispatchEvent(new Event('load'));
      await jest.advanceTimersByTimeAsync(0);
      await jest.advanceTimersByTimeAsync(100);
      expect(frames()).toHaveLength(1);
      spy.mockReturnValue(0);
      only().dispatchEvent(new Event('load'));
      await jest.advanceTimersByTimeAsync(0);
      await jest.advanceTimersByTimeAsync(99);
      expect(frames()).toHaveLength(0); // jitter: at least half of 200
      await jest.advanceTimersByTimeAsync(1);
      expect(frames()).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('on p.e reports the error and retries, or stops for errors retrying cannot fix', async () => {
    const c = connect({ channels: ['a'], backoffMinMs: 50, backoffMaxMs: 50 });
    await jest.advanceTimersByTimeAsync(0);
    sinkOf(only()).e('slow_consumer', 'too slow');
    // Reported once the frame's script has returned, with no timer between (a hidden tab's wait a second).
    expect(types()).not.toContain('error');
    await afterScript();
    expect(seen.filter((s) => s.type === 'pushframe:error').map((s) => s.detail)).toEqual([
      { code: 'slow_consumer', message: 'too slow' },
    ]);
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(50);
    sinkOf(only()).e('bad_origin', 'not allowed');
    await jest.advanceTimersByTimeAsync(0);
    expect(types().slice(-2)).toEqual(['error', 'close']);
    expect(c.state).toBe('closed');
    expect(frames()).toHaveLength(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('reads the JSON error of a same-origin stream refused before its first byte', async () => {
    const c = connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const iframe = only();
    errorDocument(iframe, '{"error":{"code":"bad_pattern","message":"Subscriptions are channel names."}}');
    iframe.dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(0);
    expect(types()).toEqual(['transport', 'error', 'close']);
    expect(seen[1].detail).toEqual({ code: 'bad_pattern', message: 'Subscriptions are channel names.' });
    expect(c.state).toBe('closed');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('retries a refusal that may pass (too_many_connections) with backoff', async () => {
    connect({ channels: ['a'], backoffMinMs: 10, backoffMaxMs: 10 });
    await jest.advanceTimersByTimeAsync(0);
    const iframe = only();
    errorDocument(iframe, '{"error":{"code":"too_many_connections","message":"later"}}');
    iframe.dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(1);
    expect(seen[1].detail).toEqual({ code: 'too_many_connections', message: 'later' });
    await jest.advanceTimersByTimeAsync(10);
    expect(only()).not.toBe(iframe);
  });

  it('a bad cursor is dropped and reported as a reset', async () => {
    connect({ channels: ['a'], since: 'E~1', backoffMinMs: 10, backoffMaxMs: 10 });
    await jest.advanceTimersByTimeAsync(0);
    sinkOf(only()).e('bad_cursor', 'no');
    await jest.advanceTimersByTimeAsync(10);
    expect(types()).toEqual(['transport', 'error', 'reset']);
    expect(streamParams(only()).since).toBeUndefined();
  });
});

describe('bridge: subscribe and unsubscribe re-open the one stream', () => {
  it('re-opens with resume; an empty subscription holds no stream', async () => {
    const c = connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E~3', 1000);
    p.m('a', '4', 1);
    c.subscribe('b/**');
    c.subscribe(['c', 'a']); // coalesced into one re-open; 'a' is not doubled
    expect(streamParams(only()).channels).toBe('a'); // not from inside subscribe()
    await afterScript(); // and then without a timer
    const q = streamParams(only());
    expect(q.channels).toBe('a,b/**,c');
    expect(q.since).toBe('E~3,a@4');
    c.unsubscribe(['a', 'b/**', 'c']);
    await jest.advanceTimersByTimeAsync(0);
    expect(frames()).toHaveLength(0);
    expect(c.state).toBe('idle');
    c.subscribe('z');
    await jest.advanceTimersByTimeAsync(0);
    expect(streamParams(only()).channels).toBe('z');
  });
});

describe('bridge: htmlfile host (IE)', () => {
  interface FakeHost {
    written: string[];
    parentWindow: Record<string, unknown>;
    body: HTMLElement;
    open(): void;
    write(s: string): void;
    close(): void;
    createElement(tag: string): HTMLElement;
  }

  let hosts: FakeHost[];
  let collected: number;

  beforeEach(() => {
    hosts = [];
    collected = 0;
    const w = window as unknown as Record<string, unknown>;
    // A stand-in for ActiveXObject("htmlfile"): a detached document plus parentWindow.
    w.ActiveXObject = function ActiveXObject(name: string): FakeHost {
      if (name !== 'htmlfile') throw new Error('unexpected ActiveX ' + name);
      const doc = document.implementation.createHTMLDocument('');
      const host: FakeHost = {
        written: [],
        parentWindow: {},
        body: doc.body,
        open() {},
        write(s) {
          host.written.push(s);
        },
        close() {},
        createElement: (tag) => doc.createElement(tag),
      };
      hosts.push(host);
      return host;
    };
    w.CollectGarbage = () => {
      collected++;
    };
  });

  afterEach(() => {
    const w = window as unknown as Record<string, unknown>;
    delete w.ActiveXObject;
    delete w.CollectGarbage;
  });

  it('streams inside the htmlfile, where parent.Pushframe reaches the bridge', async () => {
    const c = connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(hosts).toHaveLength(1);
    const host = hosts[0];
    expect(frames()).toHaveLength(0); // nothing in the page: no spinner, no click
    const iframe = host.body.getElementsByTagName('iframe')[0];
    const q = streamParams(iframe);
    expect(q.t).toBe('htmlfile');
    expect(host.parentWindow.Pushframe).toBe(Pushframe);
    const p = (host.parentWindow.Pushframe as PushframeGlobal)._frame(q.f) as FrameCallbacks;
    p.o('E~1', 1000);
    p.m('a', '2', { v: 1 });
    expect(types()).toEqual(['transport', 'open', 'message']);
    expect(seen[0].detail).toEqual({ name: 'htmlfile' });
    expect(seen[2].detail).toEqual({ channel: 'a', id: '2', data: { v: 1 } });
    c.close();
    expect(host.body.getElementsByTagName('iframe')).toHaveLength(0);
    expect(iframe.src).toBe('about:blank');
    expect(host.parentWindow.Pushframe).toBeNull();
    expect(collected).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('recycles into a fresh htmlfile and releases the old one', async () => {
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const q = streamParams(hosts[0].body.getElementsByTagName('iframe')[0]);
    const p = Pushframe._frame(q.f) as FrameCallbacks;
    p.o('E~1', 1000);
    p.m('a', '2', 1);
    p.r(0);
    await afterScript();
    expect(hosts).toHaveLength(2);
    expect(collected).toBe(1);
    expect(hosts[0].body.getElementsByTagName('iframe')).toHaveLength(0);
    expect(streamParams(hosts[1].body.getElementsByTagName('iframe')[0]).since).toBe('E~1,a@2');
  });

  it('falls back to the iframe when ActiveX is blocked', async () => {
    (window as unknown as Record<string, unknown>).ActiveXObject = function () {
      throw new Error('ActiveX filtering');
    };
    connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    // The switch waits for no timer: the iframe is there once the failed start has returned.
    expect(types()).toEqual(['transport', 'error', 'transport']);
    expect(seen.map((s) => s.detail)[2]).toEqual({ name: 'iframe' });
    expect(streamParams(only()).t).toBe('iframe');
  });
});

describe('bridge: cross-origin streams over postMessage', () => {
  const STREAM_ORIGIN = 'http://push.example.test:9000';

  function post(data: string, origin = STREAM_ORIGIN): void {
    window.dispatchEvent(new MessageEvent('message', { data, origin }));
  }

  it('asks the server for postMessage and accepts only the stream origin and the live frame', async () => {
    connect({ url: STREAM_ORIGIN + '/pushframe/', channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const iframe = only();
    expect(iframe.src.startsWith(STREAM_ORIGIN + '/pushframe/stream?')).toBe(true);
    const q = streamParams(iframe);
    expect(q.origin).toBe('http://localhost');
    expect(Pushframe._frame(q.f)).toBeNull(); // cross-origin frames have no callbacks to fetch
    const f = q.f;
    post('pushframe|' + f + '|o|["E~1",1000]');
    post('pushframe|' + f + '|m|["a","2",{"x":"</script>\\u2028"}]');
    post('pushframe|' + f + '|m|["a","3","evil"]', 'http://evil.example.test');
    post('pushframe|' + f + '|m|["a","3","evil"]', 'http://push.example.test:9001');
    post('pushframe|' + f + '|m|["a","3","evil"]', 'https://push.example.test:9000');
    post('pushframe|f999_x|m|["a","3","stale"]');
    post('pushframe|' + f + '|m|["a","3",');
    post('pushframe|' + f + '|z|[]');
    post('pushframe|' + f + '|m|{"a":1}');
    post('something else entirely');
    post('pushframe|' + f + '|m|["a","3","good"]');
    expect(types()).toEqual(['transport', 'open', 'message', 'message']);
    expect(seen.slice(2).map((s) => s.detail)).toEqual([
      { channel: 'a', id: '2', data: { x: '</script>\u2028' } },
      { channel: 'a', id: '3', data: 'good' },
    ]);
  });

  it('ignores a frame once it has been replaced', async () => {
    connect({ url: STREAM_ORIGIN + '/pushframe', channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const old = streamParams(only()).f;
    post('pushframe|' + old + '|o|["E~1",1000]');
    post('pushframe|' + old + '|r|[0]');
    await afterScript();
    const fresh = streamParams(only()).f;
    expect(fresh).not.toBe(old);
    post('pushframe|' + old + '|m|["a","2","stale"]');
    post('pushframe|' + fresh + '|o|["E~1",1000]');
    post('pushframe|' + fresh + '|m|["a","2","fresh"]');
    expect(seen.filter((s) => s.type === 'pushframe:message').map((s) => s.detail)).toEqual([
      { channel: 'a', id: '2', data: 'fresh' },
    ]);
  });

  it("gives a cross-origin frame's posted callbacks time to trail its load event", async () => {
    connect({ url: STREAM_ORIGIN + '/pushframe', channels: ['a'], backoffMinMs: 10, backoffMaxMs: 10 });
    await jest.advanceTimersByTimeAsync(0);
    const first = only();
    const f = streamParams(first).f;
    post('pushframe|' + f + '|o|["E~1",1000]');
    first.dispatchEvent(new Event('load')); // the response ended...
    await jest.advanceTimersByTimeAsync(100);
    post('pushframe|' + f + '|m|["a","2","late but live"]'); // ...before its last messages were dispatched
    post('pushframe|' + f + '|r|[0]');
    await afterScript();
    expect(types()).toEqual(['transport', 'open', 'message']);
    const second = only();
    expect(streamParams(second).since).toBe('E~1,a@2');
    // A frame that ends with nothing after it is a failure, once the grace is over.
    const g = streamParams(second).f;
    post('pushframe|' + g + '|o|["E~2",1000]');
    second.dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(499);
    expect(types()).not.toContain('error');
    await jest.advanceTimersByTimeAsync(1);
    expect(seen[seen.length - 1].detail).toEqual({ code: 'disconnected', message: 'The stream ended unexpectedly.' });
  });

  it('treats a default port as the same origin', async () => {
    connect({ url: 'http://LOCALHOST:80/pushframe', channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    expect(streamParams(only()).origin).toBeUndefined();
  });
});

describe('bridge: the transport ladder and its seam', () => {
  it('a transport is one registry entry: after failed attempts the ladder moves on, announcing the switch', async () => {
    const started: string[] = [];
    let sink: FrameCallbacks | null = null;
    const stopped: string[] = [];
    // What a long-poll transport adds: supported() and start(stream) returning { stop }.
    Pushframe._transports.longpoll = {
      supported: () => true,
      start(stream: { id: string; url(t: string): string; sink: FrameCallbacks }) {
        started.push(stream.url('longpoll'));
        sink = stream.sink;
        return { stop: () => stopped.push(stream.id) };
      },
    };
    connect({ channels: ['a'], openTimeoutMs: 1000, backoffMinMs: 10, backoffMaxMs: 10, fallbackAfter: 2 });
    await jest.advanceTimersByTimeAsync(0);
    await jest.advanceTimersByTimeAsync(1000); // first iframe attempt: no p.o (a buffering proxy)
    await jest.advanceTimersByTimeAsync(10);
    await jest.advanceTimersByTimeAsync(1000); // second one
    await jest.advanceTimersByTimeAsync(1);
    expect(frames()).toHaveLength(0);
    expect(started).toHaveLength(1);
    expect(started[0]).toMatch(/\/pushframe\/stream\?channels=a&t=longpoll&f=f\d+_/);
    sink!.o('E~1', 1000);
    sink!.m('a', '2', 'via poll');
    expect(types()).toEqual(['transport', 'error', 'error', 'transport', 'open', 'message']);
    expect(seen.filter((e) => e.type === 'pushframe:transport').map((e) => e.detail)).toEqual([{ name: 'iframe' }, { name: 'longpoll' }]);
    conns[0].close();
    expect(stopped).toHaveLength(1);
  });

  it('keeps retrying the last rung with backoff when nothing else is left', async () => {
    connect({ channels: ['a'], openTimeoutMs: 1000, backoffMinMs: 10, backoffMaxMs: 10, transports: ['iframe'] });
    await jest.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 5; i++) {
      await jest.advanceTimersByTimeAsync(1000);
      await jest.advanceTimersByTimeAsync(10);
      expect(frames()).toHaveLength(1);
    }
    expect(types().filter((t) => t === 'transport')).toHaveLength(1);
  });

  it('falls back to defaults for number options that are not positive numbers', async () => {
    connect({ channels: ['a'], backoffMinMs: 'soon', backoffMaxMs: -1, openTimeoutMs: NaN });
    await jest.advanceTimersByTimeAsync(0);
    only().dispatchEvent(new Event('load'));
    await jest.advanceTimersByTimeAsync(1);
    await jest.advanceTimersByTimeAsync(400); // the default backoff (1 s, jittered to 0.5-1 s) has not passed
    expect(frames()).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(600);
    expect(frames()).toHaveLength(1);
  });

  it('passes the token and extra parameters on the stream URL', async () => {
    connect({ channels: ['a'], token: 'tok.en/1', params: { lang: 'nl' } });
    await jest.advanceTimersByTimeAsync(0);
    const q = streamParams(only());
    expect(q.token).toBe('tok.en/1');
    expect(q.lang).toBe('nl');
  });
});

describe('bridge: page lifecycle', () => {
  it('waits for the load event before starting a stream', async () => {
    const ready = Object.getOwnPropertyDescriptor(Document.prototype, 'readyState')!;
    Object.defineProperty(document, 'readyState', { configurable: true, get: () => 'interactive' });
    try {
      Pushframe = loadBridge(window);
      for (const t of EVENTS) Pushframe.listen(document, t, record);
      connect({ channels: ['a'] });
      await jest.advanceTimersByTimeAsync(1000);
      expect(frames()).toHaveLength(0);
      window.dispatchEvent(new Event('load'));
      expect(frames()).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(0);
      expect(frames()).toHaveLength(1);
    } finally {
      delete (document as unknown as Record<string, unknown>).readyState;
      expect(Object.getOwnPropertyDescriptor(Document.prototype, 'readyState')).toEqual(ready);
    }
  });

  it('a page put in the back-forward cache drops its stream and resumes it on pageshow', async () => {
    const c = connect({ channels: ['a'] });
    await jest.advanceTimersByTimeAsync(0);
    const p = sinkOf(only());
    p.o('E~1', 1000);
    p.m('a', '2', 1);
    const hide = new Event('pagehide') as Event & { persisted?: boolean };
    Object.defineProperty(hide, 'persisted', { value: true });
    window.dispatchEvent(hide);
    expect(frames()).toHaveLength(0);
    expect(c.state).toBe('suspended');
    expect(jest.getTimerCount()).toBe(0);
    const show = new Event('pageshow') as Event & { persisted?: boolean };
    Object.defineProperty(show, 'persisted', { value: true });
    window.dispatchEvent(show);
    await jest.advanceTimersByTimeAsync(0);
    expect(streamParams(only()).since).toBe('E~1,a@2');
    expect(types()).not.toContain('close');
  });

  it('resolves a target id when the event fires (the element may come later)', async () => {
    connect({ channels: ['a'], target: 'late' });
    await jest.advanceTimersByTimeAsync(0);
    const el = document.createElement('section');
    el.id = 'late';
    document.body.appendChild(el);
    const onEl: unknown[] = [];
    Pushframe.listen(el, 'pushframe:message', (ev) => {
      onEl.push(ev.detail);
    });
    const p = sinkOf(only());
    p.o('E~1', 1000);
    p.m('a', '2', 'x');
    expect(onEl).toEqual([{ channel: 'a', id: '2', data: 'x' }]);
    el.remove();
  });
});

describe('bridge: teardown', () => {
  it('close() and pagehide leave no timers, frames, listeners or globals but Pushframe', async () => {
    const a = connect({ channels: ['a'] });
    const b = connect({ channels: ['b'], url: 'http://push.example.test/pushframe' });
    await jest.advanceTimersByTimeAsync(0);
    expect(frames()).toHaveLength(2);
    const fa = streamParams(frames()[0]).f;
    sinkOf(frames()[0]).o('E~1', 1000);
    expect(jest.getTimerCount()).toBeGreaterThan(0);
    a.close();
    a.close();
    expect(Pushframe._frame(fa)).toBeNull();
    expect(frames()).toHaveLength(1);
    window.dispatchEvent(new Event('pagehide'));
    expect(b.state).toBe('closed');
    expect(frames()).toHaveLength(0);
    expect(jest.getTimerCount()).toBe(0);
    expect(types().filter((t) => t === 'close')).toHaveLength(2);
    const added = Object.keys(window).filter((k) => !keysBefore.has(k));
    expect(added).toEqual(['Pushframe']);
    // After close nothing reaches the page.
    const n = seen.length;
    window.dispatchEvent(new MessageEvent('message', { data: 'pushframe|x|o|["E~1",1]', origin: 'http://push.example.test' }));
    expect(seen.length).toBe(n);
  });

  it('loading the file twice keeps the first copy (it owns the live frames)', async () => {
    const first = Pushframe;
    (window as unknown as { eval(s: string): void }).eval(require('../helpers/bridge').BRIDGE_SOURCE);
    expect((window as unknown as { Pushframe: unknown }).Pushframe).toBe(first);
  });

  it('exposes the protocol version and the transport registry seam', async () => {
    expect(Pushframe.version).toBe(1);
    expect(Object.keys(Pushframe._transports).sort()).toEqual(['htmlfile', 'iframe', 'longpoll', 'sse']);
  });
});
