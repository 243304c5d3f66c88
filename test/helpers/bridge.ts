import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BRIDGE_PATH = join(__dirname, '..', '..', 'public', 'pushframe.js');
export const BRIDGE_SOURCE = readFileSync(BRIDGE_PATH, 'utf8');
/** The minified build the server serves (test/global-setup.ts builds it before the run). */
export const BRIDGE_MIN_PATH = join(__dirname, '..', '..', 'public', 'pushframe.min.js');
export const BRIDGE_MIN_SOURCE = readFileSync(BRIDGE_MIN_PATH, 'utf8');

/** The protocol's callback object `p` as a stream document sees it. */
export interface FrameCallbacks {
  o(cursor: string, heartbeatMs: number, token?: string): void;
  m(...triplets: unknown[]): void;
  j(...triplets: unknown[]): void;
  c(cursor: string): void;
  x(...channels: string[]): void;
  h(): void;
  r(delayMs: number): void;
  e(code: string, message: string): void;
}

export interface Meta {
  channel: string;
  id: string;
}

export interface Connection {
  on(pattern: string, fn: (data: unknown, meta: Meta) => void): Connection;
  off(pattern?: string, fn?: (data: unknown, meta: Meta) => void): Connection;
  listen(name: string, fn: (detail: unknown) => void): Connection;
  unlisten(name: string, fn?: (detail: unknown) => void): Connection;
  subscribe(channels: string | string[]): Connection;
  unsubscribe(channels: string | string[]): Connection;
  cursor(): string;
  close(): void;
  readonly state: string;
  readonly transport: string | null;
}

export interface PushframeGlobal {
  version: number;
  connect(options: Record<string, unknown>): Connection;
  listen(target: unknown, type: string, fn: (ev: { type: string; detail: unknown }) => void): void;
  unlisten(target: unknown, type: string, fn: (ev: { type: string; detail: unknown }) => void): void;
  _frame(id: string): FrameCallbacks | null;
  _transports: Record<string, unknown>;
}

type BridgeWindow = Window & { Pushframe?: PushframeGlobal; eval(code: string): unknown };

/** Runs the real bridge file in `win` (a jsdom window or the test environment's). */
export function loadBridge(win: Window): PushframeGlobal {
  const w = win as BridgeWindow;
  delete w.Pushframe;
  w.eval(BRIDGE_SOURCE);
  if (!w.Pushframe) throw new Error('the bridge did not define Pushframe');
  return w.Pushframe;
}

/** Stream URL parameters of a forever frame the bridge created. */
export function streamParams(iframe: { src: string }): Record<string, string> {
  const query = iframe.src.slice(iframe.src.indexOf('?') + 1);
  const out: Record<string, string> = {};
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    out[decodeURIComponent(pair.slice(0, eq))] = decodeURIComponent(pair.slice(eq + 1));
  }
  return out;
}

/** The forever frames the bridge has in `doc`. */
export function streamFrames(doc: Document = document): HTMLIFrameElement[] {
  return Array.from(doc.getElementsByTagName('iframe')).filter((f) => f.src.indexOf('/stream?') !== -1);
}

/** The one forever frame in `doc` (the test fails if there is not exactly one). */
export function onlyStreamFrame(doc: Document = document): HTMLIFrameElement {
  const list = streamFrames(doc);
  expect(list).toHaveLength(1);
  return list[0];
}

/** The callbacks the bridge listens on for `iframe`'s stream (what the server's frames call). */
export function frameCallbacks(pushframe: PushframeGlobal, iframe: HTMLIFrameElement): FrameCallbacks {
  const p = pushframe._frame(streamParams(iframe).f);
  if (!p) throw new Error('no live frame for ' + iframe.src);
  return p;
}

/**
 * Lets the bridge's promise reactions run: in a browser they run once the script that
 * queued them (a frame's, an event handler's) has returned. Fake timers do not hold them.
 */
export async function afterScript(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve();
}
