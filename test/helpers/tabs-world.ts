import { JSDOM } from 'jsdom';
import { BRIDGE_SOURCE, streamParams, type FrameCallbacks, type PushframeGlobal } from './bridge';

/**
 * Several browser tabs of one origin, each a jsdom window running the real bridge, with
 * what tabs share simulated between them: BroadcastChannel, localStorage with its
 * storage event, and Web Locks (`navigator.locks`). Time is virtual: one clock for the
 * world, one timer queue per tab. A frozen tab runs no timer and receives no task
 * until it thaws (as a frozen or suspended browser tab); a killed tab is gone, and
 * the locks it held are released (as when a tab closes or crashes).
 */

type Task = { at: number; seq: number; fn: () => void };

export interface WorldOptions {
  broadcast: boolean;
  locks: boolean;
  storage: boolean;
}

interface HeldLock {
  tab: Tab;
  reject: (err: Error) => void;
  resolve: () => void;
}

interface Waiting {
  tab: Tab;
  run: () => void;
}

export class Tab {
  readonly window: Window & { Pushframe: PushframeGlobal; eval(code: string): unknown };
  readonly events: { type: string; detail: unknown }[] = [];
  frozen = false;
  dead = false;
  private timers: Task[] = [];
  private inbox: Task[] = [];

  constructor(
    readonly world: World,
    readonly name: string,
    readonly dom: JSDOM,
  ) {
    this.window = dom.window as unknown as Tab['window'];
  }

  setTimeout(fn: () => void, ms: number): number {
    const t = { at: this.world.now + Math.max(0, Number(ms) || 0), seq: this.world.nextSeq(), fn };
    this.timers.push(t);
    return t.seq;
  }

  clearTimeout(id: number): void {
    this.timers = this.timers.filter((t) => t.seq !== id);
  }

  /** A task from another tab (a bus message, a storage event, a lock grant). */
  post(fn: () => void): void {
    if (!this.dead) this.inbox.push({ at: this.world.now, seq: this.world.nextSeq(), fn });
  }

  /** The next thing this tab would run at or before `until`, if it can run. */
  next(until: number): Task | undefined {
    if (this.frozen || this.dead) return undefined;
    const due = [...this.inbox, ...this.timers.filter((t) => t.at <= until)];
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    return due[0];
  }

  run(task: Task): void {
    this.inbox = this.inbox.filter((t) => t !== task);
    this.timers = this.timers.filter((t) => t !== task);
    task.fn();
  }

  /** Forever frames this tab's bridge created (the stream lives in the leader's tab). */
  frames(): HTMLIFrameElement[] {
    return Array.from(this.window.document.getElementsByTagName('iframe'));
  }

  /** The protocol callbacks of this tab's one stream frame. */
  sink(): FrameCallbacks {
    const list = this.frames();
    if (list.length !== 1) throw new Error(`${this.name} has ${list.length} stream frames, not 1`);
    const p = this.window.Pushframe._frame(streamParams(list[0]).f);
    if (!p) throw new Error(`${this.name}: no live frame`);
    return p;
  }

  params(): Record<string, string> {
    return streamParams(this.sink() && this.frames()[0]);
  }

  messages(): { channel: string; id: string; data: unknown }[] {
    return this.events.filter((e) => e.type === 'message').map((e) => e.detail as { channel: string; id: string; data: unknown });
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

export class World {
  /** The bridge file every tab runs: the readable one unless a suite picks the minified build. */
  static source = BRIDGE_SOURCE;
  now = 1_700_000_000_000;
  readonly tabs: Tab[] = [];
  /** Every localStorage write, in order. */
  readonly writes: { tab: string; key: string; value: string | null }[] = [];
  private seq = 0;
  /** Each tab's view of localStorage: a write reaches the others with its storage event,
   * as between a browser's renderer processes. */
  private views = new Map<Tab, Map<string, string>>();
  private channels: { tab: Tab; name: string; bc: FakeChannel }[] = [];
  private held = new Map<string, HeldLock>();
  private queues = new Map<string, Waiting[]>();

  constructor(readonly options: WorldOptions) {}

  nextSeq(): number {
    return ++this.seq;
  }

  /** Opens a tab, waits for its load event, then runs the bridge in it. */
  async open(name: string): Promise<Tab> {
    const dom = new JSDOM('<!DOCTYPE html><html><head></head><body></body></html>', {
      url: 'http://localhost/',
      runScripts: 'outside-only',
    });
    await new Promise<void>((resolve) => {
      if (dom.window.document.readyState === 'complete') resolve();
      else dom.window.addEventListener('load', () => resolve());
    });
    const tab = new Tab(this, name, dom);
    this.install(tab);
    tab.window.eval(World.source);
    const w = tab.window;
    for (const type of ['open', 'message', 'reset', 'transport', 'error', 'close']) {
      w.document.addEventListener('pushframe:' + type, (ev: Event) => {
        tab.events.push({ type, detail: JSON.parse(JSON.stringify((ev as CustomEvent).detail)) });
      });
    }
    this.tabs.push(tab);
    return tab;
  }

  private install(tab: Tab): void {
    const w = tab.window as unknown as Record<string, unknown>;
    const world = this;
    w.setTimeout = (fn: () => void, ms: number) => tab.setTimeout(fn, ms);
    w.clearTimeout = (id: number) => tab.clearTimeout(id);
    // An interval is a timeout that re-arms itself under the same id.
    const intervals = new Map<number, number>();
    w.setInterval = (fn: () => void, ms: number) => {
      const id = world.nextSeq();
      const arm = (): void => {
        intervals.set(id, tab.setTimeout(() => {
          arm();
          fn();
        }, Math.max(1, ms)));
      };
      arm();
      return id;
    };
    w.clearInterval = (id: number) => {
      const t = intervals.get(id);
      if (t !== undefined) tab.clearTimeout(t);
      intervals.delete(id);
    };
    const RealDate = Date;
    w.Date = function FakeDate() {
      return new RealDate(world.now);
    };
    if (this.options.broadcast) {
      w.BroadcastChannel = function (this: FakeChannel, name: string) {
        const bc: FakeChannel = {
          onmessage: null,
          postMessage(data: unknown) {
            const copy = JSON.stringify(data);
            for (const c of world.channels) {
              if (c.bc !== bc && c.name === name) c.tab.post(() => c.bc.onmessage?.({ data: JSON.parse(copy) }));
            }
          },
          close() {
            world.channels = world.channels.filter((c) => c.bc !== bc);
          },
        };
        world.channels.push({ tab, name, bc });
        return bc;
      };
    } else {
      delete w.BroadcastChannel;
    }
    if (this.options.storage) {
      const view = new Map<string, string>();
      for (const other of this.tabs) if (!other.dead) for (const [k, v] of this.views.get(other) ?? []) view.set(k, v);
      this.views.set(tab, view);
      const storage = {
        getItem: (k: string) => (view.has(k) ? (view.get(k) as string) : null),
        setItem: (k: string, v: string) => world.write(tab, k, String(v)),
        removeItem: (k: string) => world.write(tab, k, null),
      };
      Object.defineProperty(w, 'localStorage', { value: storage, configurable: true });
    } else {
      Object.defineProperty(w, 'localStorage', { value: undefined, configurable: true });
    }
    const locks = this.options.locks
      ? {
          request: (name: string, opts: { steal?: boolean }, cb: () => unknown) => world.request(tab, name, opts, cb),
        }
      : undefined;
    Object.defineProperty(tab.window.navigator, 'locks', { value: locks, configurable: true });
  }

  /** localStorage write: the other tabs get a storage event (the writer does not). */
  private write(tab: Tab, key: string, value: string | null): void {
    const set = (view: Map<string, string>): void => {
      if (value === null) view.delete(key);
      else view.set(key, value);
    };
    const mine = this.views.get(tab) as Map<string, string>;
    const old = mine.has(key) ? (mine.get(key) as string) : null;
    if (old === value) return;
    set(mine);
    this.writes.push({ tab: tab.name, key, value });
    for (const other of this.tabs) {
      if (other === tab || other.dead) continue;
      other.post(() => {
        set(this.views.get(other) as Map<string, string>);
        const W = other.window as unknown as { StorageEvent: typeof StorageEvent; dispatchEvent(e: Event): boolean };
        W.dispatchEvent(new W.StorageEvent('storage', { key, oldValue: old, newValue: value }));
      });
    }
  }

  /** navigator.locks.request(name, { steal }, callback) with one exclusive lock per name. */
  private request(tab: Tab, name: string, opts: { steal?: boolean }, cb: () => unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        const held: HeldLock = { tab, resolve: () => undefined, reject };
        this.held.set(name, held);
        let result: unknown;
        try {
          result = cb();
        } catch (err) {
          this.releaseLock(name, held);
          reject(err);
          return;
        }
        held.resolve = () => {
          this.releaseLock(name, held);
          resolve(undefined);
        };
        Promise.resolve(result).then(
          () => {
            if (this.held.get(name) === held) held.resolve();
          },
          () => {
            if (this.held.get(name) === held) held.resolve();
          },
        );
      };
      const current = this.held.get(name);
      if (opts && opts.steal) {
        if (current) {
          this.held.delete(name);
          // The holder learns when it next runs.
          current.tab.post(() => current.reject(new Error('AbortError')));
        }
        tab.post(grant);
      } else if (!current) {
        this.held.set(name, { tab, resolve: () => undefined, reject });
        tab.post(grant);
      } else {
        const q = this.queues.get(name) ?? [];
        q.push({ tab, run: grant });
        this.queues.set(name, q);
      }
    });
  }

  private releaseLock(name: string, held: HeldLock): void {
    if (this.held.get(name) !== held) return;
    this.held.delete(name);
    const q = (this.queues.get(name) ?? []).filter((w) => !w.tab.dead);
    const next = q.shift();
    this.queues.set(name, q);
    if (next) {
      this.held.set(name, { tab: next.tab, resolve: () => undefined, reject: () => undefined });
      next.tab.post(next.run);
    }
  }

  /** The tab goes away at once (crash, or closed after pagehide): its locks are released. */
  kill(tab: Tab): void {
    tab.dead = true;
    this.channels = this.channels.filter((c) => c.tab !== tab);
    for (const [name, held] of [...this.held]) if (held.tab === tab) this.releaseLock(name, held);
    for (const [name, q] of this.queues) this.queues.set(name, q.filter((w) => w.tab !== tab));
  }

  /** Closing a tab: pagehide runs in the page, then the tab is gone. */
  close(tab: Tab): void {
    const w = tab.window as unknown as { dispatchEvent(e: Event): boolean; PageTransitionEvent?: typeof PageTransitionEvent; Event: typeof Event };
    w.dispatchEvent(new w.Event('pagehide'));
    this.kill(tab);
    tab.dom.window.close();
  }

  /** Runs every task and timer due within `ms` of virtual time, in order, tab by tab. */
  async run(ms = 0): Promise<void> {
    const until = this.now + ms;
    for (let guard = 0; guard < 100000; guard++) {
      await new Promise((r) => setImmediate(r)); // promise callbacks (locks) settle
      let best: { tab: Tab; task: Task } | undefined;
      for (const tab of this.tabs) {
        const t = tab.next(until);
        if (t && (!best || t.at < best.task.at || (t.at === best.task.at && t.seq < best.task.seq))) best = { tab, task: t };
      }
      if (!best) break;
      if (best.task.at > this.now) this.now = best.task.at;
      best.tab.run(best.task);
    }
    await new Promise((r) => setImmediate(r));
    this.now = Math.max(this.now, until);
  }

  /** The tab that holds the stream (has the frame); fails unless exactly one does. */
  leader(): Tab {
    const holding = this.tabs.filter((t) => !t.dead && t.frames().length > 0);
    if (holding.length !== 1) throw new Error(`${holding.length} tabs hold a stream: ${holding.map((t) => t.name).join(', ')}`);
    return holding[0];
  }

  closeAll(): void {
    for (const tab of this.tabs) if (!tab.dead) this.close(tab);
  }
}

interface FakeChannel {
  onmessage: ((ev: { data: unknown }) => void) | null;
  postMessage(data: unknown): void;
  close(): void;
}
