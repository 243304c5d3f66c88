import net from 'node:net';
import { ensureBuilt, startCli, type CliServer } from '../helpers/child';
import { expectResponsive, startHealthzProbe } from '../helpers/latency';
import { neverReading, openFds, sleep } from '../helpers/proc';

/**
 * Under a low descriptor limit (`ulimit -n 256`), connections of every kind count
 * against a socket budget: the process refuses the excess instead of running out of
 * descriptors (the `_sys/stats` timer used to die of EMFILE), another client's /healthz
 * stays fast while one address floods it, and what the flood held is given back.
 * Default settings otherwise (stats every second, a publish key as production needs).
 */

const OPEN_FILES = 256;
const KEY = 'k'.repeat(32);
const PER_KIND = 60;

let server: CliServer;
let port: number;
const held: net.Socket[] = [];

beforeAll(async () => {
  await ensureBuilt();
  server = await startCli({ PUSHFRAME_STATS_INTERVAL_MS: '1000', PUSHFRAME_PUBLISH_KEY: KEY, PUSHFRAME_LOG_LEVEL: 'info' }, [], 10_000, OPEN_FILES);
  port = Number(new URL(server.url).port);
  // First use compiles views and code paths: not what this test measures.
  const warm = await neverReading(port, '/pushframe/stream?channels=warm');
  await fetch(`${server.url}/pushframe/publish/warm`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: '1' });
  await sleep(200);
  warm.destroy();
  await (await fetch(`${server.url}/metrics`)).text();
}, 120_000);

afterAll(() => {
  for (const s of held) s.destroy();
  server?.child.kill('SIGKILL');
});

/** A raw connection from `from` that sends `head` (possibly nothing) and then trickles `drip` every 200 ms. */
function connectFrom(from: string, head: string, drip?: string): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
    socket.on('error', () => resolve(null));
    socket.on('data', () => undefined);
    socket.once('connect', () => {
      if (head) socket.write(head);
      if (drip) {
        const timer = setInterval(() => (socket.writable ? socket.write(drip) : clearInterval(timer)), 200);
        timer.unref();
        socket.once('close', () => clearInterval(timer));
      }
      held.push(socket);
      resolve(socket);
    });
  });
}

const chunkedPost = (path: string, auth: boolean): string =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n` +
  (auth ? `Authorization: Bearer ${KEY}\r\n` : '') +
  '\r\n1\r\n[\r\n';

/** Every kind of connection the budget must count, PER_KIND of each, from one address (in bursts of 25). */
async function flood(from: string): Promise<void> {
  for (let i = 0; i < PER_KIND; i += 5) {
    await burst(from, 5);
    await sleep(50);
  }
}

async function burst(from: string, n: number): Promise<void> {
  const kinds: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    kinds.push(connectFrom(from, '')); // idle: never sends a request
    kinds.push(connectFrom(from, chunkedPost('/pushframe/publish/a', false), '1\r\n \r\n')); // refused publish, body trickles on
    kinds.push(connectFrom(from, chunkedPost('/pushframe/publish/a', true), '1\r\n \r\n')); // accepted publish, body never ends
    kinds.push(neverReading(port, '/pushframe/stream?channels=flood', from).then((s) => held.push(s), () => null)); // stream never read
    kinds.push(connectFrom(from, 'GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n \r\n', '1\r\n \r\n')); // GET, endless body
  }
  await Promise.all(kinds);
}

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

it("refuses what one address opens past its share while another client's /healthz stays fast", async () => {
  const probe = startHealthzProbe(`http://127.0.0.1:${port}`, { localAddress: '127.0.0.2' });
  await probe.ready;
  await flood('127.0.0.3');
  // Long enough for several stats ticks, each reading /proc.
  await sleep(3_000);
  const times = await probe.stop();
  expect(server.child.exitCode).toBeNull();
  expectResponsive(times);
  expect(openFds(server.child.pid as number)).toBeLessThan(OPEN_FILES);
  expect(await metric('pushframe_refusals_total{code="too_many_sockets_per_ip"}')).toMatch(/ [1-9]\d*$/);
  expect(server.stdout()).toContain('connection refused: too many sockets per ip');
}, 60_000);

it('refuses past the whole budget when many addresses flood it, without a crash, and recovers', async () => {
  await Promise.all(['127.0.0.4', '127.0.0.5', '127.0.0.6'].map(flood));
  await sleep(2_000);
  expect(server.child.exitCode).toBeNull();
  expect(openFds(server.child.pid as number)).toBeLessThan(OPEN_FILES);
  expect(await metricAfterRelease()).toMatch(/too_many_sockets"} [1-9]/);
}, 60_000);

/** Lets the flood go, then reads the refusals: the server answers again once it is gone. */
async function metricAfterRelease(): Promise<string> {
  for (const s of held.splice(0)) s.destroy();
  await sleep(500);
  const r = await fetch(`${server.url}/healthz`);
  expect(r.status).toBe(200);
  return metric('pushframe_refusals_total');
}

it('closes a refused publish whose body keeps trickling at once', async () => {
  const socket = (await connectFrom('127.0.0.7', chunkedPost('/pushframe/publish/a', false), '1\r\n \r\n')) as net.Socket;
  let answer = '';
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => (answer += c));
  const closed = await Promise.race([new Promise((r) => socket.once('close', () => r(true))), sleep(3_000).then(() => false)]);
  expect(answer).toMatch(/^HTTP\/1\.1 401 /);
  expect(answer).toMatch(/connection: close/i);
  expect(closed).toBe(true);
}, 10_000);
