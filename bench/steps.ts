/**
 * `node dist/bench/steps.js [N]`: where the time of one stream opening goes, step by step.
 * pushframe runs in this process with the bench's settings; a child process opens N
 * streams (200 at a time) on loopback. Each step below is wrapped with a clock, so the
 * figures include a wrapper's cost (a fraction of a microsecond each) and nest: a step's
 * time includes the steps it calls. Printed: the median per call over the first and the
 * second half of the openings (a fresh process's first openings run code that V8 has not
 * optimized yet). A reading aid for the open scenario's profile, not a target.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { startServer } from '../src';
import * as routes from '../src/http/routes/stream';
import { Hub } from '../src/hub';
import { ChunkedSocketSink, StreamConnection } from '../src/transports';
import { raiseOpenFileLimit } from './proc';
import { benchServerOptions } from './settings';

type Fn = (...args: never[]) => unknown;
const HANDLER = 'request handler';
/** Per step, the duration of each call (µs); in the order they are printed. */
const times = new Map<string, number[]>(
  [
    HANDLER,
    '  checks (admit)',
    '  head and stream (start)',
    '    writeHead',
    '    hub subscribe, open frame',
    '      open frame written',
    '        first chunk framed, written',
    '          socket write',
    'hand-over (next turn)',
  ].map((label) => [label, []]),
);

function clock(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

/** Replaces `owner[name]` by a version that records its duration under `label`. */
function timed(owner: object, name: string, label: string): void {
  const table = owner as Record<string, Fn>;
  const inner = table[name];
  const list = times.get(label) as number[];
  table[name] = function (this: unknown, ...args: never[]): unknown {
    const t = clock();
    try {
      return inner.apply(this, args);
    } finally {
      list.push(clock() - t);
    }
  };
}

function median(xs: number[]): number {
  return xs.slice().sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
}

/** The child: opens `n` streams to `port`, 200 in flight, then says so and keeps them. */
function openStreams(port: number, n: number): void {
  let started = 0;
  let opened = 0;
  const sockets: net.Socket[] = [];
  const next = (): void => {
    if (started >= n) return;
    started++;
    const s = net.connect(port, '127.0.0.1', () =>
      s.write(`GET /pushframe/stream?channels=bench/fan HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/html\r\nUser-Agent: pushframe-bench\r\n\r\n`),
    );
    let first = true;
    s.on('data', () => {
      if (!first) return;
      first = false;
      if (++opened === n) process.send?.('opened');
      else next();
    });
    s.on('error', () => undefined);
    sockets.push(s);
  };
  for (let i = 0; i < 200; i++) next();
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 5000);
  if (process.argv[3] === '--child') return openStreams(Number(process.argv[4]), n);
  // The streams come from one address, whose share of the socket budget is half the
  // descriptor limit.
  const wanted = 2 * n + 1000;
  if (raiseOpenFileLimit(wanted) < wanted) throw new Error(`${n} streams from one address need an open-file limit of ${wanted} (ulimit -n ${wanted}).`);
  // Wrapped before the server is made: the stream route reads these when it is wired.
  const openerOf = routes.streamOpener;
  const wrapped = new WeakSet<object>();
  (routes as { streamOpener: typeof openerOf }).streamOpener = (deps) => {
    const opener = openerOf(deps);
    if (!wrapped.has(opener)) {
      wrapped.add(opener);
      timed(opener, 'admit', '  checks (admit)');
      timed(opener, 'start', '  head and stream (start)');
    }
    return opener;
  };
  timed(Hub.prototype, 'subscribe', '    hub subscribe, open frame');
  timed(StreamConnection.prototype, 'open', '      open frame written');
  timed(ChunkedSocketSink.prototype, 'write', '        first chunk framed, written');
  timed(net.Socket.prototype, 'write', '          socket write');
  timed(http.ServerResponse.prototype, 'writeHead', '    writeHead');
  timed(ChunkedSocketSink.prototype, 'release', 'hand-over (next turn)');
  const server = await startServer(benchServerOptions());
  const [listener] = server.http.listeners('request') as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
  server.http.removeAllListeners('request');
  const handled = times.get(HANDLER) as number[];
  server.http.on('request', (req, res) => {
    const t = clock();
    listener(req, res);
    handled.push(clock() - t);
  });
  const child = fork(__filename, [String(n), '--child', String(server.port)]);
  const opened = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 60_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  if (!opened) {
    child.kill();
    await server.shutdown();
    throw new Error(`${handled.length} of ${n} streams opened within 60 s`);
  }
  console.log(`${n} openings, median µs per call: first half, second half`);
  for (const [label, xs] of times) {
    const half = xs.length >> 1;
    console.log(`${label.padEnd(38)} ${median(xs.slice(0, half)).toFixed(1).padStart(7)} ${median(xs.slice(half)).toFixed(1).padStart(7)}`);
  }
  child.kill();
  await server.shutdown();
  process.exit(0);
}

void main();
