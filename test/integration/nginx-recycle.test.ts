import http from 'node:http';
import net from 'node:net';
import type { PushframeServer } from '../../src';
import { startDocumentedNginx, upstreamFailures, type DocumentedNginx } from '../helpers/documented-nginx';
import { freePort } from '../helpers/ports';
import { startTestServer } from '../helpers/server';
import { SseClient } from '../helpers/sse-client';
import { StreamClient } from '../helpers/stream-client';

/**
 * nginx as docs/scaling.md configures it keeps a pool of connections to the nodes
 * (`keepalive 32`). A request it sends on a pooled connection the node is closing fails
 * (`upstream prematurely closed connection`): nginx tries the other node, and with its
 * passive check on (`max_fails`, 1 unless set; the doc sets 0) sends nothing to that node
 * for `fail_timeout` (10 s); with every node set aside, every page gets 502s. Two ways
 * into that, both closed here:
 * - A stream ends by closing its connection, and the page asks for the next one at once.
 *   Had the stream's head said `keep-alive`, nginx would put the connection back in its
 *   pool at the last chunk and could send the next request on it.
 * - A node closes a connection idle for its keep-alive (5 s, and Node adds a second);
 *   nginx must let go of it first (the doc's `keepalive_timeout 4s`).
 *
 * How soon the close reaches nginx is up to the network; here it comes 50 ms late, on
 * every connection (a proxy between nginx and the node holds each FIN back), so that
 * the next request always falls in between.
 */

const CLIENTS = 10;
const MESSAGES = 240;
const LATE_FIN_MS = 50;

let push: PushframeServer;
let lateFin: net.Server;
let nginx: DocumentedNginx;
/** Called when either side closes a connection through the proxy (the node's close before nginx hears of it). */
let onClose: (() => void) | null = null;

/** Forwards bytes both ways at once; a close from the node reaches nginx `LATE_FIN_MS` later. */
async function startLateFinProxy(port: number): Promise<net.Server> {
  const server = net.createServer((front) => {
    const back = net.connect(port, '127.0.0.1');
    front.on('data', (c) => back.write(c));
    back.on('data', (c) => front.write(c));
    front.on('end', () => {
      onClose?.();
      back.end();
    });
    back.on('end', () => {
      onClose?.();
      setTimeout(() => front.end(), LATE_FIN_MS);
    });
    front.on('error', () => back.destroy());
    back.on('error', () => setTimeout(() => front.destroy(), LATE_FIN_MS));
    front.on('close', () => back.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  // Recycling every 4 KiB, so that each client goes through many stream ends.
  push = await startTestServer({ trustProxy: 'loopback', maxStreamBytes: 4096 });
  lateFin = await startLateFinProxy(push.port);
  const port = (lateFin.address() as net.AddressInfo).port;
  // One node named twice (the doc's two upstream lines); nothing serves the doc's application port.
  nginx = await startDocumentedNginx({ upstreams: [port, port], app: await freePort() });
});

afterAll(async () => {
  await nginx?.stop();
  await new Promise((resolve) => lateFin?.close(resolve));
  await push?.close();
});

type Transport = 'iframe' | 'sse';

/** Opens a forever frame or an event stream through nginx, resuming from `cursor`. */
function openThrough(transport: Transport, channel: string, cursor: string, agent: http.Agent): Promise<StreamClient | SseClient> {
  if (transport === 'iframe') {
    const since = cursor ? `&since=${encodeURIComponent(cursor)}` : '';
    return StreamClient.open(`${nginx.url}/pushframe/stream?channels=${channel}${since}`, {}, agent);
  }
  return SseClient.open(`${nginx.url}/pushframe/events?channels=${channel}`, cursor ? { 'last-event-id': cursor } : {}, agent);
}

/** A page's stream: each time the server ends it, the next opens at once with the cursor. */
async function follow(transport: Transport, channel: string, stop: () => boolean, onFirstOpen: () => void): Promise<{ got: number[]; statuses: number[]; opens: number }> {
  const got: number[] = [];
  const statuses: number[] = [];
  let cursor = '';
  let opens = 0;
  const deadline = Date.now() + 20_000;
  // As a browser does: the next request goes out on the connection to nginx it already has.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  while (got.length < MESSAGES && Date.now() < deadline && !stop()) {
    const c = await openThrough(transport, channel, cursor, agent);
    statuses.push(c.status);
    if (c.status !== 200) {
      c.close();
      break;
    }
    if (opens++ === 0) onFirstOpen();
    try {
      await c.waitFor((s) => s.ended || s.messages.length + got.length >= MESSAGES, Math.max(0, deadline - Date.now()), 'the stream to end');
    } catch {
      // The deadline passed: the assertions say what is missing.
    }
    c.close();
    for (const m of c.messages) got.push((m.data as { n: number }).n);
    cursor = c instanceof StreamClient ? c.cursor : c.lastEventId;
  }
  agent.destroy();
  return { got, statuses, opens };
}

test.each(['iframe', 'sse'] as const)('%s streams recycling through the documented nginx resume at once; nginx counts no failure', async (transport) => {
  const channel = `recycle/${transport}`;
  let failed = false;
  let opened = 0;
  const clients = Array.from({ length: CLIENTS }, () => follow(transport, channel, () => failed, () => opened++));
  // Every client has its first stream before the messages start.
  const deadline = Date.now() + 5000;
  while (opened < CLIENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(opened).toBe(CLIENTS);
  const text = 'x'.repeat(300);
  for (let n = 0; n < MESSAGES; n++) {
    await push.hub.publish(channel, { n, text });
    if (n % 4 === 3) await new Promise((r) => setTimeout(r, 5));
  }
  const results = await Promise.all(clients.map((c) => c.catch((err: unknown) => ((failed = true), Promise.reject(err)))));
  expect({ upstreamErrors: upstreamFailures(nginx.errorLog(), channel).slice(0, 3) }).toEqual({ upstreamErrors: [] });
  for (const [i, r] of results.entries()) {
    const what = `${transport} client ${i}`;
    expect({ what, refused: r.statuses.filter((s) => s !== 200) }).toEqual({ what, refused: [] });
    expect({ what, got: r.got }).toEqual({ what, got: Array.from({ length: MESSAGES }, (_, n) => n) });
    // Recycled along the way (a resume brings its backlog in its open, so how often varies).
    expect({ what, recycled: r.opens >= 2 }).toEqual({ what, recycled: true });
  }
  // About 75 KiB of messages in 4 KiB streams: many stream ends, each followed by a new request.
  const ends = results.reduce((sum, r) => sum + r.opens - 1, 0);
  expect(ends).toBeGreaterThan(CLIENTS * 3);
}, 60_000);

test("a connection idle in nginx's pool is let go before the node closes it: the next poll passes, nginx counts no failure", async () => {
  const poll = async (): Promise<number> => (await fetch(`${nginx.url}/pushframe/poll?channels=idle/pool&open=1`)).status;
  expect(await poll()).toBe(200);
  // Whichever side closes the idle connection first: nginx after its keepalive_timeout (the
  // doc's 4 s), or the node after its keep-alive (5 s, and Node adds a second). The node's
  // close reaches nginx 50 ms later here, and the next poll goes out in between.
  const closedAt = Date.now();
  await new Promise<void>((resolve) => (onClose = resolve));
  onClose = null;
  expect(await poll()).toBe(200);
  expect(upstreamFailures(nginx.errorLog(), 'idle/pool').slice(0, 3)).toEqual([]);
  // nginx let go first (4 s), not the node (6 s).
  expect(Date.now() - closedAt).toBeLessThan(5_000);
}, 20_000);
