/** @jest-environment jsdom */
import { BRIDGE_MIN_SOURCE, BRIDGE_SOURCE, streamParams, type FrameCallbacks, type PushframeGlobal } from '../helpers/bridge';

/**
 * The "legacy profile": the page's realm loses what IE6-8 lack (ES5 library, JSON,
 * Promise/Map/Set, DOM Level 2 events, CustomEvent, postMessage) and gains IE's
 * attachEvent/detachEvent. The real bridge must still load, stream and deliver, through
 * its own event registry. Assertions run after the profile is restored, because the
 * test framework itself needs what was removed.
 */

type Any = Record<string, unknown>;

interface Removed {
  owner: object;
  key: string;
  desc: PropertyDescriptor;
}

function removeProp(obj: object, key: string, removed: Removed[]): void {
  let owner: object | null = obj;
  while (owner && !Object.prototype.hasOwnProperty.call(owner, key)) owner = Object.getPrototypeOf(owner);
  if (!owner) return;
  const desc = Object.getOwnPropertyDescriptor(owner, key) as PropertyDescriptor;
  removed.push({ owner, key, desc });
  delete (owner as Any)[key];
}

const realAdd = EventTarget.prototype.addEventListener;
const realRemove = EventTarget.prototype.removeEventListener;
const realDispatch = EventTarget.prototype.dispatchEvent;

/** Strips the page realm to an IE6-8 profile; returns the function that restores it. */
function legacyProfile(options: { keepPostMessage?: boolean; keepDom?: boolean } = {}, docs: Document[] = []): () => void {
  // jsdom's selector engine hooks each document on first use, through the very API the
  // profile removes: let it do so first.
  for (const d of [document, ...docs]) d.querySelector('*');
  const removed: Removed[] = [];
  const w = window as unknown as Any;
  if (!options.keepDom) {
    for (const k of ['addEventListener', 'removeEventListener', 'dispatchEvent']) {
      removeProp(EventTarget.prototype, k, removed);
      removeProp(window, k, removed);
      removeProp(document, k, removed);
    }
    removeProp(window, 'CustomEvent', removed);
  }
  if (!options.keepPostMessage) removeProp(window, 'postMessage', removed);
  removeProp(window, 'JSON', removed);
  for (const k of ['forEach', 'indexOf', 'lastIndexOf', 'map', 'filter', 'some', 'every', 'reduce']) {
    removeProp(Array.prototype, k, removed);
  }
  removeProp(Array, 'isArray', removed);
  removeProp(Object, 'keys', removed);
  removeProp(Object, 'create', removed);
  removeProp(Function.prototype, 'bind', removed);
  removeProp(String.prototype, 'trim', removed);
  removeProp(Date, 'now', removed);
  for (const k of ['Promise', 'Map', 'Set', 'WeakMap']) removeProp(window, k, removed);

  // IE's own event API, as a shim over the real one (plain loops: the profile has no ES5).
  const shims: { node: unknown; name: string; fn: unknown; wrapped: EventListener }[] = [];
  let attached = false;
  if (!options.keepDom) {
    attached = true;
    (EventTarget.prototype as unknown as Any).attachEvent = function (this: EventTarget, name: string, fn: (ev: Event) => void) {
      const wrapped = (ev: Event): void => fn.call(this, ev);
      shims.push({ node: this, name, fn, wrapped });
      realAdd.call(this, name.substring(2), wrapped);
      return true;
    };
    (EventTarget.prototype as unknown as Any).detachEvent = function (this: EventTarget, name: string, fn: unknown) {
      for (let i = shims.length - 1; i >= 0; i--) {
        const s = shims[i];
        if (s.node === this && s.name === name && s.fn === fn) {
          realRemove.call(this, name.substring(2), s.wrapped);
          shims.splice(i, 1);
        }
      }
    };
  }
  void w;
  return () => {
    for (let i = removed.length - 1; i >= 0; i--) Object.defineProperty(removed[i].owner, removed[i].key, removed[i].desc);
    if (attached) {
      delete (EventTarget.prototype as unknown as Any).attachEvent;
      delete (EventTarget.prototype as unknown as Any).detachEvent;
    }
  };
}

/** The file under test: the readable source, then the minified build (the same suite twice). */
let bridgeSource = BRIDGE_SOURCE;

function loadBridgeHere(): PushframeGlobal {
  delete (window as unknown as Any).Pushframe;
  (window as unknown as { eval(s: string): void }).eval(bridgeSource);
  return (window as unknown as { Pushframe: PushframeGlobal }).Pushframe;
}

beforeEach(() => {
  jest.useFakeTimers();
});

afterEach(() => {
  delete (window as unknown as Any).Pushframe;
  delete (window as unknown as Any).ActiveXObject;
  delete (window as unknown as Any).CollectGarbage;
  jest.useRealTimers();
});

describe.each([
  ['public/pushframe.js', BRIDGE_SOURCE],
  ['public/pushframe.min.js', BRIDGE_MIN_SOURCE],
])('bridge: legacy profile (IE6-8), %s', (_name, source) => {
  beforeAll(() => {
    bridgeSource = source;
  });

  it('the profile really removes what it claims and restores it', () => {
    const restore = legacyProfile();
    const gone = [
      typeof (window as unknown as Any).JSON,
      typeof window.addEventListener,
      typeof document.dispatchEvent,
      typeof (window as unknown as Any).CustomEvent,
      typeof (window as unknown as Any).postMessage,
      typeof ([] as unknown as Any).indexOf,
      typeof (Object as unknown as Any).keys,
      typeof (window as unknown as Any).Map,
    ];
    const shim = typeof (document as unknown as Any).attachEvent;
    restore();
    expect(gone).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined']);
    expect(shim).toBe('function');
    expect(typeof window.addEventListener).toBe('function');
    expect(typeof JSON.parse).toBe('function');
    expect([1, 2].indexOf(2)).toBe(1);
  });

  it('receives messages through the iframe path as registry events, bubbling to document', () => {
    const log: string[] = [];
    let p: FrameCallbacks | null = null;
    let src = '';
    let seenOnElement = 0;
    const restore = legacyProfile();
    try {
      const Pushframe = loadBridgeHere();
      const el = document.createElement('div');
      el.id = 'box';
      document.body.appendChild(el);
      const onDoc = (ev: { type: string; detail: unknown }): void => {
        const d = ev.detail as { channel?: string; id?: string; data?: unknown; name?: string };
        log.push(ev.type + ' ' + (d.channel ? d.channel + '@' + d.id + '=' + String((d.data as Any).n) : d.name || ''));
      };
      for (const t of ['message', 'open', 'transport', 'close']) Pushframe.listen(document, 'pushframe:' + t, onDoc);
      Pushframe.listen('box', 'pushframe:message', () => {
        seenOnElement++;
      });
      const c = Pushframe.connect({ channels: ['a', 'b/*'], target: el });
      const handled: string[] = [];
      c.on('b/*', (_d, meta) => {
        handled.push(meta.channel);
      });
      jest.advanceTimersByTime(0);
      const iframe = document.getElementsByTagName('iframe')[0];
      src = iframe.src;
      p = Pushframe._frame((/[?&]f=([^&]*)/.exec(src) as RegExpExecArray)[1]);
      p!.o('E~1', 1000);
      p!.m('a', '2', { n: 1 }, 'b/x', '3', { n: 2 });
      // The stream ends; the bridge notices through attachEvent('onload') and resumes.
      realDispatch.call(iframe, new Event('load'));
      jest.advanceTimersByTime(0);
      jest.advanceTimersByTime(1000);
      const second = document.getElementsByTagName('iframe')[0];
      log.push('since ' + decodeURIComponent(second.src.substring(second.src.indexOf('since=') + 6, second.src.indexOf('&t='))));
      c.close();
      log.push('frames ' + document.getElementsByTagName('iframe').length + ' timers ' + jest.getTimerCount());
      log.push('handled ' + handled.join(','));
      el.parentNode!.removeChild(el);
    } finally {
      restore();
    }
    expect(p).not.toBeNull();
    expect(streamParams({ src }).t).toBe('iframe');
    expect(log).toEqual([
      'pushframe:transport iframe',
      'pushframe:open ',
      'pushframe:message a@2=1',
      'pushframe:message b/x@3=2',
      'since E~1,a@2,b/x@3',
      'pushframe:close ',
      'frames 0 timers 0',
      'handled b/x',
    ]);
    expect(seenOnElement).toBe(2);
  });

  it('receives messages through the htmlfile path', () => {
    const got: unknown[] = [];
    const events: string[] = [];
    let collected = 0;
    let hostPushframe: unknown = 'unset';
    let iframeCount = -1;
    const hostDoc = document.implementation.createHTMLDocument('');
    const restore = legacyProfile({}, [hostDoc]);
    try {
      const host: Any = {
        parentWindow: {},
        body: hostDoc.body,
        open() {},
        write() {},
        close() {},
        createElement: (tag: string) => hostDoc.createElement(tag),
      };
      (window as unknown as Any).ActiveXObject = function () {
        return host;
      };
      (window as unknown as Any).CollectGarbage = () => {
        collected++;
      };
      const Pushframe = loadBridgeHere();
      Pushframe.listen(document, 'pushframe:message', (ev) => {
        got.push(ev.detail);
      });
      Pushframe.listen(document, 'pushframe:transport', (ev) => {
        events.push((ev.detail as { name: string }).name);
      });
      const c = Pushframe.connect({ channels: ['t'] });
      jest.advanceTimersByTime(0);
      const iframe = hostDoc.getElementsByTagName('iframe')[0];
      const src = iframe.src;
      const f = (/[?&]f=([^&]*)/.exec(src) as RegExpExecArray)[1];
      const p = ((host.parentWindow as Any).Pushframe as PushframeGlobal)._frame(f) as FrameCallbacks;
      p.o('E~1', 1000);
      p.m('t', '2', [1, 2, 3], 't', '3', 'x');
      c.close();
      hostPushframe = (host.parentWindow as Any).Pushframe;
      iframeCount = hostDoc.getElementsByTagName('iframe').length;
    } finally {
      restore();
    }
    expect(events).toEqual(['htmlfile']);
    expect(got).toEqual([
      { channel: 't', id: '2', data: [1, 2, 3] },
      { channel: 't', id: '3', data: 'x' },
    ]);
    expect(hostPushframe).toBeNull();
    expect(iframeCount).toBe(0);
    expect(collected).toBe(1);
  });

  it('without postMessage a cross-origin page long-polls over JSONP script elements', () => {
    const got: unknown[] = [];
    const events: string[] = [];
    let src = '';
    let scripts = 0;
    const restore = legacyProfile();
    try {
      const Pushframe = loadBridgeHere();
      Pushframe.listen(document, 'pushframe:message', (ev) => {
        got.push(ev.detail);
      });
      Pushframe.listen(document, 'pushframe:transport', (ev) => {
        events.push((ev.detail as { name: string }).name);
      });
      const c = Pushframe.connect({ url: 'http://push.example.test/pushframe', channels: ['a'] });
      jest.advanceTimersByTime(0);
      const el = Array.from(document.getElementsByTagName('script')).find((s) => s.src.indexOf('/poll?') !== -1)!;
      src = el.src;
      const name = /callback=Pushframe\._poll\.([A-Za-z0-9_]+)/.exec(src)![1];
      (Pushframe as unknown as { _poll: Record<string, (answer: unknown) => void> })._poll[name]({ cursor: 'E~1', messages: [['a', '2', { x: 1 }]], resets: [], timeoutMs: 1000 });
      jest.advanceTimersByTime(0);
      const all = document.getElementsByTagName('script');
      for (let i = 0; i < all.length; i++) if (all[i].src.indexOf('/poll?') !== -1) scripts++;
      c.close();
    } finally {
      restore();
    }
    expect(events).toEqual(['longpoll']);
    expect(src.indexOf('http://push.example.test/pushframe/poll?channels=a&open=1&callback=Pushframe._poll.')).toBe(0);
    expect(got).toEqual([{ channel: 'a', id: '2', data: { x: 1 } }]);
    expect(scripts).toBe(1); // the answer removed its script and the next poll added one
    expect(document.getElementsByTagName('iframe')).toHaveLength(0);
  });

  it('without postMessage and without long-poll in the ladder, a cross-origin stream has no transport and says so', () => {
    const errors: unknown[] = [];
    let state = '';
    const restore = legacyProfile();
    try {
      const Pushframe = loadBridgeHere();
      Pushframe.listen(document, 'pushframe:error', (ev) => {
        errors.push(ev.detail);
      });
      const c = Pushframe.connect({ url: 'http://push.example.test/pushframe', channels: ['a'], transports: ['htmlfile', 'iframe'] });
      jest.advanceTimersByTime(0);
      state = c.state;
    } finally {
      restore();
    }
    expect(errors).toEqual([{ code: 'no_transport', message: 'No transport of this browser can reach the server.' }]);
    expect(state).toBe('closed');
    expect(document.getElementsByTagName('iframe')).toHaveLength(0);
  });

  it('IE8 quirks mode (postMessage, no JSON): cross-origin frames parse with the fallback parser', () => {
    const got: unknown[] = [];
    let f = '';
    const restore = legacyProfile({ keepPostMessage: true, keepDom: true });
    try {
      const Pushframe = loadBridgeHere();
      Pushframe.listen(document, 'pushframe:message', (ev) => {
        got.push(ev.detail);
      });
      Pushframe.connect({ url: 'http://push.example.test/pushframe', channels: ['a'] });
      jest.advanceTimersByTime(0);
      const src = document.getElementsByTagName('iframe')[0].src;
      f = (/[?&]f=([^&]*)/.exec(src) as RegExpExecArray)[1];
      const post = (data: string): void => {
        window.dispatchEvent(new MessageEvent('message', { data, origin: 'http://push.example.test' }));
      };
      post('pushframe|' + f + '|o|["E~1",1000]');
      post('pushframe|' + f + '|m|["a","2",{"s":"\\u003c/script\\u003e","n":[1.5e3,-2,true,null]}]');
      // Not JSON: code must never be evaluated.
      post('pushframe|' + f + '|m|["a","3",alert(1)]');
      post('pushframe|' + f + '|m|["a","4",(window.__pwned=1)]');
      window.dispatchEvent(new Event('pagehide'));
    } finally {
      restore();
    }
    expect(f).toMatch(/^f\d+_/);
    expect(got).toEqual([{ channel: 'a', id: '2', data: { s: '</script>', n: [1500, -2, true, null] } }]);
    expect((window as unknown as Any).__pwned).toBeUndefined();
  });
});
