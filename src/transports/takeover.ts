import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';

/**
 * Node's HTTP server keeps, for every connection, the request, the response, a parser
 * (about 2 KiB outside the JS heap) and a dozen bound listeners — for hours, when the
 * response is a stream. Once a stream's head is sent, nothing of that is needed any
 * more: the stream writes its own chunks and ends the connection itself. `releaseHttp`
 * hands the socket over the way Node does for an upgraded (WebSocket) connection: the
 * server's listeners come off, the parser goes back to Node's pool, and the request
 * and response become garbage. Measured: 14.1 → 6.2 KiB of RSS per idle connection on
 * a bare server (BENCHMARKS.md).
 *
 * Like an upgraded connection, a released socket leaves the server's connection list:
 * `server.closeAllConnections()` no longer reaches it; `destroyReleased(server)` does
 * (pushframe's close and shutdown call both).
 */

interface HttpParserLike {
  incoming: IncomingMessage | null;
}

interface FreeParser {
  (parser: HttpParserLike, req: IncomingMessage | null, socket: Socket | null): void;
}

/** Node's own parser release (`_http_common`, the one the upgrade path uses); null if this Node has none. */
const freeParser: FreeParser | null = (() => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const common = require('_http_common') as { freeParser?: unknown };
    return typeof common.freeParser === 'function' ? (common.freeParser as FreeParser) : null;
  } catch {
    return null;
  }
})();

type Listener = (...args: never[]) => unknown;
const NONE: readonly Listener[] = [];

/** Every event Node's server, ServerResponse and on-finished (Koa) listen to on a socket. */
const SERVER_EVENTS = ['data', 'end', 'close', 'drain', 'error', 'timeout', 'pause', 'resume'] as const;

type HttpSocket = Socket & {
  parser?: HttpParserLike | null;
  _httpMessage?: unknown;
  server?: Server;
  /** EventEmitter's listener table: a function, or an array of them, per event. */
  _events?: Record<string, Registered | Registered[] | undefined>;
};

/** A listener as an emitter holds it: a once-wrapper names the listener it wraps. */
type Registered = Listener & { listener?: Listener };

/** Listeners that stay on a socket when it is released (they are not Node's HTTP machinery). */
const kept = new WeakSet<Listener>();

/** Marks `listener` to survive `releaseHttp` (e.g. a budget that counts the socket until it closes). */
export function keepOnRelease<F extends Listener>(listener: F): F {
  kept.add(listener);
  return listener;
}

/** Released sockets still open, per server: what closeAllConnections would have reached. */
const released = new WeakMap<Server, Set<Socket>>();

/** Whether `res` is on a connection that releaseHttp may take over; cheap, no side effects. */
export function canReleaseHttp(res: ServerResponse): boolean {
  const socket = res.socket as HttpSocket | null;
  if (freeParser === null || !socket || socket.destroyed || res.writableEnded) return false;
  // Only a connection whose one request is this one: nothing pipelined behind it.
  return !!socket.parser && socket.parser.incoming === res.req && socket._httpMessage === res;
}

/**
 * Detaches `res`'s socket from Node's HTTP machinery; returns the socket, now with no
 * listeners of its own but 'end' (destroy) and 'error' (ignored: 'close' follows), or
 * null when the connection cannot be released (then nothing was changed). Listeners
 * marked with keepOnRelease, and those in `keep` (the caller's own), stay. Call it
 * outside the request handler's stack (the parser may still be executing there).
 */
export function releaseHttp(res: ServerResponse, keep: readonly Listener[] = NONE): Socket | null {
  // The request must be complete (a GET has no body left to read).
  if (!canReleaseHttp(res) || !res.req.complete) return null;
  const socket = res.socket as HttpSocket;
  for (let i = 0; i < SERVER_EVENTS.length; i++) dropListeners(socket, SERVER_EVENTS[i], keep);
  (freeParser as FreeParser)(socket.parser as HttpParserLike, res.req, socket);
  res.detachSocket(socket);
  // A server with `timeout` set gave the socket an idle timer; a stream has its heartbeats.
  if (socket.timeout) socket.setTimeout(0);
  socket.on('error', ignore);
  // The server no longer reads the connection: what the client sends now is discarded,
  // and its end closes the connection (the server was half-open).
  socket.on('end', destroyThis);
  socket.resume();
  const server = socket.server;
  if (server) {
    let set = released.get(server);
    if (!set) released.set(server, (set = new Set()));
    set.add(socket);
    socket.on('close', forget);
  }
  return socket;
}

/**
 * Removes the listeners of `event` that are not kept, one by one: removeAllListeners
 * would turn the socket's event table into a dictionary, 0.7 KiB more per idle stream.
 * The table is read in place (EventEmitter's `_events`) rather than through
 * rawListeners(), which copies it for each of the events on every stream.
 */
function dropListeners(socket: HttpSocket, event: string, keep: readonly Listener[]): void {
  const value = socket._events?.[event];
  if (value === undefined) return;
  if (typeof value === 'function') {
    if (!isKept(value, keep)) socket.removeListener(event, value as (...args: unknown[]) => void);
    return;
  }
  // From the end: removeListener takes the last match and shifts only what follows it.
  for (let i = value.length - 1; i >= 0; i--) {
    const raw = value[i];
    if (!isKept(raw, keep)) socket.removeListener(event, raw as (...args: unknown[]) => void);
  }
}

/** A listener to leave on the socket (a once-wrapper counts as the listener it wraps). */
function isKept(raw: Registered, keep: readonly Listener[]): boolean {
  const listener = raw.listener ?? raw;
  return kept.has(listener) || keep.includes(listener);
}

/** Destroys every socket released from `server` that is still open (closeAllConnections' counterpart). */
export function destroyReleased(server: Server): void {
  const set = released.get(server);
  if (set) for (const socket of [...set]) socket.destroy();
}

function forget(this: HttpSocket): void {
  if (this.server) released.get(this.server)?.delete(this);
}

function ignore(): void {}

function destroyThis(this: Socket): void {
  this.destroy();
}
