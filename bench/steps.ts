/**
 * `node dist/bench/steps.js [N]`: where the time of one stream opening goes, step by step.
 * pushframe runs in this process with the bench's settings; a child process opens N
 * streams with the bench's own clients (200 at a time) on loopback. Each step below is
 * wrapped with a clock, so the figures include a wrapper's cost (a fraction of a
 * microsecond each) and nest: a step's time includes the steps it calls. Printed: the
 * median and the mean per call over the first and the second half of the openings (a
 * fresh process's first openings run code that V8 has not optimized yet; the mean carries
 * those slow first calls, which the open scenario's first-half CPU adds up). A reading
 * aid for the open scenario's profile, not a target.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { startServer } from '../src';
import * as routes from '../src/http/routes/stream';
import { Hub } from '../src/hub';
import { ChunkedSocketSink, StreamConnection } from '../src/transports';
import { StreamClient, newTotals, openAll } from './clients';
import { raiseOpenFileLimit } from './proc';
import { benchServerOptions } from './settings';
import { mean, median } from './stats';

/** Handshakes in flight, as the open scenario has them. */
const PARALLEL = 200;

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

/** The child: opens `n` streams to `port` with the bench's own clients, then reports the failures and keeps them open. */
async function openStreams(port: number, n: number): Promise<void> {
  const clients = Array.from({ length: n }, () => new StreamClient('bench/fan', newTotals()));
  const errors = await openAll(clients, port, '/pushframe/stream?channels=', PARALLEL, 30_000);
  process.send?.(errors);
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 5000);
  if (process.argv[3] === '--child') return openStreams(Number(process.argv[4]), n);
  // The child inherits the limit: both ends hold a descriptor per stream.
  const wanted = n + 1024;
  if (raiseOpenFileLimit(wanted) < wanted) throw new Error(`${n} streams need an open-file limit of ${wanted} (ulimit -n ${wanted}).`);
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
  const errors = await new Promise<string[]>((resolve) => child.once('message', (m) => resolve(m as string[])));
  if (errors.length > 0) {
    child.kill();
    await server.shutdown();
    throw new Error(`${errors.length} of ${n} streams did not open, e.g. ${errors[0]}`);
  }
  console.log(`${n} openings, µs per call: median first half, second half; mean first half, second half`);
  const cell = (x: number): string => x.toFixed(1).padStart(7);
  for (const [label, xs] of times) {
    const half = xs.length >> 1;
    const [first, later] = [xs.slice(0, half), xs.slice(half)];
    console.log(`${label.padEnd(38)}${cell(median(first))}${cell(median(later))}${cell(mean(first))}${cell(mean(later))}`);
  }
  child.kill();
  await server.shutdown();
  process.exit(0);
}

void main();
