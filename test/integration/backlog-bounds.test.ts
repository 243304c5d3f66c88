import { ensureBuilt, startCli, type CliServer } from '../helpers/child';
import { expectResponsive, startHealthzProbe } from '../helpers/latency';
import { neverReading, rssMiB, sleep } from '../helpers/proc';

/**
 * Every byte queued for one client counts against maxBufferedBytes, a resume's backlog
 * included: a resume over a large history is written in slices as the socket drains, and
 * a long-poll answers one bounded slice at a time. Default settings (1 000 messages of
 * history per channel, 64 KiB messages, 1 MiB per connection).
 */

const HISTORY = 1000;
const MESSAGE_CHARS = 60_000;
const READERS = 10;
const MAX_BUFFERED = 1024 * 1024;
/** The old code grew by ~1.2 GiB here; slices keep it to a few MiB per connection. */
const RSS_GROWTH_BOUND_MIB = 150;

let server: CliServer;
let start: string;

beforeAll(async () => {
  await ensureBuilt();
  server = await startCli({});
  start = ((await (await fetch(`${server.url}/pushframe/poll?channels=h`)).json()) as { cursor: string }).cursor;
  const filler = 'x'.repeat(MESSAGE_CHARS - 20);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < HISTORY) {
        const i = next++;
        const r = await fetch(`${server.url}/pushframe/publish/h`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ i, filler }),
        });
        if (r.status !== 202) throw new Error(`publish ${i}: ${r.status} ${await r.text()}`);
      }
    }),
  );
}, 120_000);

afterAll(() => {
  server?.child.kill('SIGKILL');
});

it(`holds a bounded amount for ${READERS} never-reading streams and ${READERS} event streams resuming over ${HISTORY} x 60 KB`, async () => {
  const pid = server.child.pid as number;
  const port = Number(new URL(server.url).port);
  await sleep(300);
  const before = rssMiB(pid);
  const probe = startHealthzProbe(server.url);
  await probe.ready;
  const sockets = [];
  for (let i = 0; i < READERS; i++) {
    sockets.push(await neverReading(port, `/pushframe/stream?channels=h&since=${encodeURIComponent(start)}`));
    sockets.push(await neverReading(port, `/pushframe/events?channels=h&since=${encodeURIComponent(start)}`));
  }
  let peak = before;
  for (let i = 0; i < 20; i++) {
    await sleep(100);
    peak = Math.max(peak, rssMiB(pid));
  }
  const times = await probe.stop();
  for (const s of sockets) s.destroy();
  expect(peak - before).toBeLessThan(RSS_GROWTH_BOUND_MIB);
  expectResponsive(times);
}, 60_000);

it('answers a long-poll resume in slices of at most maxBufferedBytes that add up to the whole history, in order', async () => {
  let since = start;
  const ids: number[] = [];
  const order: string[] = [];
  let answers = 0;
  while (ids.length < HISTORY && answers < 200) {
    const r = await fetch(`${server.url}/pushframe/poll?channels=h&since=${encodeURIComponent(since)}`);
    const text = await r.text();
    expect(r.status).toBe(200);
    expect(text.length).toBeLessThanOrEqual(MAX_BUFFERED + MESSAGE_CHARS + 1024);
    const body = JSON.parse(text) as { cursor: string; messages: [string, string, { i: number }][]; resets: string[] };
    expect(body.resets).toEqual([]);
    for (const [, id, data] of body.messages) {
      ids.push(data.i);
      order.push(id);
    }
    since = body.cursor;
    answers++;
  }
  expect(answers).toBeGreaterThan(HISTORY / Math.floor(MAX_BUFFERED / MESSAGE_CHARS));
  // Each message once, in id order.
  expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: HISTORY }, (_, i) => i));
  for (let i = 1; i < order.length; i++) expect(BigInt(order[i])).toBeGreaterThan(BigInt(order[i - 1]));
  // The cursor stays compact: a base position, no per-message entries.
  expect(since).toMatch(/^[A-Za-z0-9]+~\d+$/);
}, 60_000);
