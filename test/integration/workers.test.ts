import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { CLI, ensureBuilt, startCli, type CliServer } from '../helpers/child';
import { startRedis, type TestRedis } from '../helpers/redis';
import { StreamClient } from '../helpers/stream-client';

/**
 * `--workers 2` as users run it (the CLI, real processes on loopback), on the memory
 * broker (the primary holds it, workers reach it over IPC) and on a real Redis. Which
 * worker serves a connection is read from `/stats` (`node`) over a kept-alive connection,
 * and the stream is then opened on that same connection, so a test chooses its worker.
 */

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

/** A request that fails, saying so, when no answer comes within 3 s. */
function get(agent: http.Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, timeout: 3000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error(`no answer from ${url} within 3 s`));
      })
      .on('error', reject);
  });
}

function post(agent: http.Agent, url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, timeout: 5000, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to a publish within 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A connection held to one worker: `node` is the worker that answered on it. */
interface Pinned {
  agent: http.Agent;
  node: string;
}

/**
 * A new connection and the worker that answers on it. A connection the primary hands to a
 * worker in the instant that worker dies is lost (node:cluster), so, like a browser, this
 * tries again on a fresh connection when no answer comes (bounded).
 */
async function pin(url: string): Promise<Pinned> {
  for (let attempt = 1; ; attempt++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const r = await get(agent, `${url}/pushframe/stats`);
      return { agent, node: (JSON.parse(r.body) as { node: string }).node };
    } catch (err) {
      agent.destroy();
      if (attempt === 3) throw err;
    }
  }
}

/** A connection to a worker `accept`s (new connections are dealt round-robin; bounded tries). */
async function pinTo(url: string, accept: (node: string) => boolean): Promise<Pinned> {
  for (let i = 0; i < 30; i++) {
    const p = await pin(url);
    if (accept(p.node)) return p;
    p.agent.destroy();
  }
  throw new Error('no connection reached the wanted worker in 30 tries');
}

/** The pid the primary logged for each worker node (the latest one per node). */
function workerPids(cli: CliServer): Map<string, number> {
  const pids = new Map<string, number>();
  for (const line of cli.stdout().split('\n')) {
    if (!line.startsWith('{')) continue;
    const rec = JSON.parse(line) as { msg?: string; node?: string; pid?: number };
    if (/^worker \d+ listening$/.test(rec.msg ?? '') && rec.node && rec.pid) pids.set(rec.node, rec.pid);
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const values = (c: StreamClient): number[] => c.messages.map((m) => (m.data as { n: number }).n);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Each test starts a cluster and publishes a few hundred messages over HTTP; every wait inside is bounded on its own. */
const CLUSTER_TEST_MS = 60_000;

let redis: TestRedis | null = null;
const clis: CliServer[] = [];
const agents: http.Agent[] = [];
const clients: StreamClient[] = [];

beforeAll(async () => {
  [redis] = await Promise.all([startRedis(), ensureBuilt()]);
}, 120_000);
afterEach(async () => {
  while (clients.length) clients.pop()!.close();
  while (agents.length) agents.pop()!.destroy();
  for (const cli of clis.splice(0)) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
    // The workers follow a killed primary (their IPC channel closes); wait for them too.
    const pids = [...workerPids(cli).values()];
    await cli.exited;
    await until(() => pids.every((p) => !alive(p)), 'the workers to exit after their primary', 15_000);
  }
});
afterAll(async () => {
  await redis?.stop();
});

async function cluster(broker: string, more: Record<string, string> = {}, workers = '2'): Promise<CliServer> {
  const env = { ...(broker === 'redis' ? { PUSHFRAME_BROKER: (redis as TestRedis).url } : {}), ...more };
  const cli = await startCli(env, ['--workers', workers], 20_000);
  clis.push(cli);
  return cli;
}

/** Opens a stream on the worker `p` is pinned to; resolves once it is open. */
async function open(p: Pinned, url: string, query: string): Promise<{ client: StreamClient; node: string }> {
  agents.push(p.agent);
  const client = await StreamClient.open(`${url}/pushframe/stream?${query}`, {}, p.agent);
  clients.push(client);
  await client.waitForFrame('o');
  return { client, node: p.node };
}

/** Publishes `{ n }` for n = 0..count-1 over one kept-alive connection, alternating two channels. */
function publishAll(url: string, p: Pinned, count: number, progress: { published: number }): Promise<void> {
  agents.push(p.agent);
  return (async () => {
    for (let n = 0; n < count; n++) {
      const status = await post(p.agent, `${url}/pushframe/publish/seq/${n % 2 ? 'odd' : 'even'}`, JSON.stringify({ n }));
      if (status !== 202) throw new Error(`publish ${n} answered ${status}`);
      progress.published++;
    }
  })();
}

/** Every value once, in order per channel (each stream writes a channel's messages in id order). */
function expectEveryMessageOnce(sessions: StreamClient[], count: number): void {
  expect(sessions.flatMap(values).sort((a, b) => a - b)).toEqual(range(count));
  for (const c of sessions) {
    for (const ch of ['seq/odd', 'seq/even']) {
      const ns = c.messages.filter((m) => m.channel === ch).map((m) => (m.data as { n: number }).n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    expect(c.frames.filter((f) => f.type === 'x')).toEqual([]);
  }
}

test('a bad --workers value, or workers that cannot listen, stop the CLI with exit code 2 and one line saying why', async () => {
  const env = { PATH: process.env.PATH ?? '', HOST: '127.0.0.1' };
  const bad = spawnSync(process.execPath, [CLI, '--workers', 'many'], { env: { ...env, PORT: '0' }, encoding: 'utf8', timeout: 10_000 });
  expect([bad.status, bad.stderr]).toEqual([2, 'pushframe: option workers: must be a number of processes from 1 to 999, or "auto" (one per core)\n']);
  // The port is taken: no worker can listen, and the cluster does not start.
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = String((taken.address() as net.AddressInfo).port);
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, '--workers', '2', '--log-level', 'silent'], { env: { ...env, PORT: port } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('close', (status) => resolve({ status, stderr }));
    });
    // Together, so that a wrong exit code shows what the CLI said.
    expect(r).toEqual({ status: 2, stderr: expect.stringMatching(/^pushframe: worker \d could not start: .*EADDRINUSE/) });
  } finally {
    taken.close();
  }
}, 30_000);

test('PORT=0: when every worker has died at once, the replacements listen on the port the cluster bound first', async () => {
  const cli = await cluster('memory');
  const before = workerPids(cli);
  expect(before.size).toBe(2);
  for (const pid of before.values()) process.kill(pid, 'SIGKILL');
  await until(() => {
    const now = workerPids(cli);
    return now.size === 2 && [...now.values()].every((pid) => pid > 0 && ![...before.values()].includes(pid));
  }, 'two replacement workers');
  // Both slots serve again at the URL the cluster printed when it started.
  const seen = new Set<string>();
  for (let i = 0; i < 20 && seen.size < 2; i++) {
    const p = await pin(cli.url);
    p.agent.destroy();
    seen.add(p.node);
  }
  expect(seen.size).toBe(2);
}, CLUSTER_TEST_MS);

describe.each(['memory', 'redis'])('--workers 2 on the %s broker', (broker) => {
  test('a client moved from one worker to the other resumes: every message once, in order', async () => {
    const cli = await cluster(broker);
    const N = 200;
    const first = await open(await pin(cli.url), cli.url, 'channels=seq/*');
    const progress = { published: 0 };
    const publishing = publishAll(cli.url, await pin(cli.url), N, progress);
    await first.client.waitFor((c) => c.messages.length >= 60, 10_000, '60 messages on the first worker');
    first.client.close();
    const movedAt = progress.published;
    const since = encodeURIComponent(first.client.cursor);
    const second = await open(await pinTo(cli.url, (node) => node !== first.node), cli.url, `channels=seq/*&since=${since}`);
    expect(second.node).not.toBe(first.node);
    await publishing;
    await second.client.waitFor((c) => values(c).includes(N - 1), 10_000, 'the last message on the second worker');
    await sleep(100);
    expect(movedAt).toBeLessThan(N); // moved while publishing went on
    expectEveryMessageOnce([first.client, second.client], N);
  }, CLUSTER_TEST_MS);

  test('a stream named by replaces= on the other worker ends there (its page moved on)', async () => {
    const cli = await cluster(broker);
    const dead = await open(await pin(cli.url), cli.url, 'channels=a');
    const token = dead.client.frames.find((f) => f.type === 'o')!.args[2] as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const next = await open(await pinTo(cli.url, (node) => node !== dead.node), cli.url, `channels=a&replaces=${token}`);
    expect(next.node).not.toBe(dead.node);
    await dead.client.waitForEnd(5000);
    expect(next.client.ended).toBe(false);
  }, CLUSTER_TEST_MS);

  test('SIGKILL of one worker: its clients resume elsewhere without loss, and the primary replaces it', async () => {
    const cli = await cluster(broker);
    const N = 200;
    const doomed = await open(await pin(cli.url), cli.url, 'channels=seq/*');
    const survivor = await open(await pinTo(cli.url, (node) => node !== doomed.node), cli.url, 'channels=seq/*');
    const pidsBefore = workerPids(cli);
    const doomedPid = pidsBefore.get(doomed.node) as number;
    expect(doomedPid).toBeGreaterThan(0);
    // The publisher talks to the worker that stays, so no publish is caught in the kill.
    const progress = { published: 0 };
    const publishing = publishAll(cli.url, await pinTo(cli.url, (node) => node === survivor.node), N, progress);
    await doomed.client.waitFor((c) => c.messages.length >= 50, 10_000, '50 messages before the kill');
    process.kill(doomedPid, 'SIGKILL');
    await doomed.client.waitForEnd();
    const killedAt = progress.published;
    // The client comes back with its cursor, on whichever worker takes the connection.
    const back = await open(await pin(cli.url), cli.url, `channels=seq/*&since=${encodeURIComponent(doomed.client.cursor)}`);
    await publishing;
    await back.client.waitFor((c) => values(c).includes(N - 1), 10_000, 'the last message after the resume');
    await survivor.client.waitFor((c) => values(c).includes(N - 1), 10_000, 'the last message on the surviving worker');
    await sleep(100);
    expect(killedAt).toBeLessThan(N);
    expectEveryMessageOnce([doomed.client, back.client], N);
    expectEveryMessageOnce([survivor.client], N);

    // The replacement takes the slot (and its name), with a new pid, and serves.
    await until(() => (workerPids(cli).get(doomed.node) ?? doomedPid) !== doomedPid, 'the replacement worker');
    expect(cli.stdout()).toMatch(/worker \d exited \(killed by SIGKILL\); replacing it/);
    const replaced = await open(await pinTo(cli.url, (node) => node === doomed.node), cli.url, 'channels=after');
    const r = await fetch(`${cli.url}/pushframe/publish/after`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":0}' });
    expect(r.status).toBe(202);
    await replaced.client.waitForMessages(1);
    expect(replaced.client.messages[0].data).toEqual({ n: 0 });
  }, CLUSTER_TEST_MS);

  test('--workers auto runs one per core; SIGTERM to the primary drains every worker: each stream gets its reconnect, then everything exits', async () => {
    const cli = await cluster(broker, {}, 'auto');
    const pids = [...workerPids(cli).values()];
    expect(pids).toHaveLength(availableParallelism());
    const streams = [];
    for (let i = 0; i < 6; i++) streams.push(await open(await pin(cli.url), cli.url, 'channels=news'));
    expect(new Set(streams.map((s) => s.node)).size).toBe(Math.min(2, pids.length));
    const t0 = Date.now();
    cli.child.kill('SIGTERM');
    await Promise.all(streams.map((s) => s.client.waitForEnd(12_000)));
    for (const s of streams) {
      const r = s.client.frames.find((f) => f.type === 'r');
      expect(r).toBeDefined();
      // The default jitter spreads the reconnects over up to 5 s.
      expect(r?.args[0]).toBeGreaterThanOrEqual(0);
      expect(r?.args[0]).toBeLessThanOrEqual(5000);
    }
    const { code, at } = await cli.exited;
    expect(code).toBe(0);
    // Within the default shutdown deadline (10 s) and its margin.
    expect(at - t0).toBeLessThan(12_000);
    await until(() => pids.every((p) => !alive(p)), 'every worker to exit', 5000);
  }, CLUSTER_TEST_MS);

  test('_sys/stats (sampled every 200 ms here) shows the cluster: one line per worker, connections summed', async () => {
    const cli = await cluster(broker, { PUSHFRAME_STATS_INTERVAL_MS: '200', PUSHFRAME_NODE_ID: 'edge' });
    // Two streams on one worker, one on the other.
    const a = await open(await pin(cli.url), cli.url, 'channels=_sys/stats');
    const b = await open(await pinTo(cli.url, (node) => node !== a.node), cli.url, 'channels=_sys/stats');
    const watchers = [a, b, await open(await pinTo(cli.url, (node) => node === a.node), cli.url, 'channels=_sys/stats')];
    type Sample = { node: string; connections: { total: number }; nodes?: { node: string; connections: number }[] };
    const full = (c: StreamClient): Sample[] =>
      c.messages.map((m) => m.data as Sample).filter((s) => s.node === 'cluster' && s.nodes?.length === 2 && s.connections.total === 3);
    for (const w of watchers) await w.client.waitFor((c) => full(c).length > 0, 10_000, 'a cluster sample with both workers and all 3 streams');
    const sample = full(watchers[0].client)[0];
    expect(sample.nodes?.map((n) => n.node)).toEqual(['edge-w0', 'edge-w1']);
    expect(sample.nodes?.find((n) => n.node === a.node)?.connections).toBe(2);
    expect(sample.nodes?.find((n) => n.node === b.node)?.connections).toBe(1);
  }, CLUSTER_TEST_MS);

  test('GET /metrics through the shared port, whichever worker takes it, has every worker\'s series labelled with its node', async () => {
    const cli = await cluster(broker, { PUSHFRAME_NODE_ID: 'edge' });
    const a = await pin(cli.url);
    const b = await pinTo(cli.url, (node) => node !== a.node);
    agents.push(a.agent, b.agent);
    // Two publishes through one worker, one through the other, and a stream on the first.
    for (const p of [a, a, b]) expect(await post(p.agent, `${cli.url}/pushframe/publish/m/x`, '{"n":1}')).toBe(202);
    await open(await pinTo(cli.url, (node) => node === a.node), cli.url, 'channels=m/x');
    for (const p of [a, b]) {
      const r = await get(p.agent, `${cli.url}/metrics`);
      expect(r.status).toBe(200);
      const lines = r.body.split('\n');
      expect(lines).toEqual(expect.arrayContaining(['pushframe_cluster_workers{state="running"} 2', 'pushframe_cluster_workers{state="answered"} 2']));
      expect(lines.filter((l) => l.startsWith('pushframe_messages_published_total{')).sort()).toEqual(
        [`pushframe_messages_published_total{node="${a.node}"} 2`, `pushframe_messages_published_total{node="${b.node}"} 1`].sort(),
      );
      expect(lines).toContain(`pushframe_connections{transport="iframe",node="${a.node}"} 1`);
      expect(lines.filter((l) => l.startsWith('pushframe_publish_duration_seconds_count{')).length).toBe(2);
      // Each metric is one family (its HELP and TYPE once, then every worker's samples).
      const types = lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
      expect(types.length).toBeGreaterThan(20);
      expect(new Set(types).size).toBe(types.length);
      const familyOf = (sample: string): number => {
        const name = sample.split(/[{ ]/)[0];
        return types.findIndex((t) => name === t || name === t + '_bucket' || name === t + '_sum' || name === t + '_count');
      };
      const families = lines.filter((l) => l.length > 0 && !l.startsWith('#')).map(familyOf);
      expect(families).not.toContain(-1);
      expect(families).toEqual([...families].sort((x, y) => x - y));
    }
  }, CLUSTER_TEST_MS);
});
