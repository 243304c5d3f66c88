/**
 * Fan-out over the Redis broker vs the memory broker, same machine, same run.
 *
 *   npm run build && node dist/bench/redis-fanout.js [--streams 500] [--messages 2000]
 *
 * Setups: (a) one node, memory broker; (b) two nodes on one Redis (started here on a free
 * loopback port). Nodes run as child processes (`dist/src/cli.js`); this process holds the
 * raw-socket streams (split evenly across the nodes) and publishes over HTTP to the first
 * node. Two phases per setup:
 *   - burst: all messages, a fixed number of publishes in flight: delivered messages/s;
 *   - paced: a slower fixed rate: publish-to-receive latency without queueing.
 * Latency = time from just before the publish request to the parse of the message on a
 * stream socket (one clock: this process). Bounded: every wait has a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../test/helpers/redis';

interface Options {
  streams: number;
  messages: number;
  inFlight: number;
  pacedMessages: number;
  pacedRate: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { streams: 500, messages: 2000, inFlight: 16, pacedMessages: 200, pacedRate: 50 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Options;
    const value = Number(argv[i + 1]);
    if (!(key in o) || !Number.isInteger(value) || value <= 0) throw new Error(`bad argument ${argv[i]} ${argv[i + 1] ?? ''}`);
    o[key] = value;
  }
  return o;
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

/** A pushframe node in its own process. */
async function startNode(port: number, broker: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'src', 'cli.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUSHFRAME_BROKER: broker,
      PUSHFRAME_LOG_LEVEL: 'warn',
      PUSHFRAME_DEMO: 'false',
      PUSHFRAME_STATS_INTERVAL_MS: '0',
      PUSHFRAME_MAX_CONNECTIONS_PER_IP: '100000',
      PUSHFRAME_HISTORY_SIZE: '1000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await until(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
      } catch {
        return false;
      }
    },
    `node on port ${port}`,
    10_000,
  );
  return child;
}

async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  const servers: http.Server[] = [];
  for (let i = 0; i < n; i++) {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    ports.push((s.address() as { port: number }).port);
    servers.push(s);
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Counts messages on one raw stream and records each one's latency. */
class Stream {
  opened = false;
  received = 0;
  private tail = '';
  private req: http.ClientRequest;

  constructor(url: string, private readonly sink: (latencyMs: number) => void) {
    this.req = http.get(url, { agent: false }, (res) => {
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => this.onData(chunk));
    });
    this.req.on('error', () => {});
  }

  private onData(chunk: string): void {
    const text = this.tail + chunk;
    const end = text.lastIndexOf('</script>');
    if (end === -1) {
      this.tail = text;
      return;
    }
    this.tail = text.slice(end + 9);
    const done = text.slice(0, end);
    if (!this.opened && done.includes('p.o(')) this.opened = true;
    const at = now();
    // Each message's data is {"t":<ms>}: the publisher's clock reading.
    const re = /\{"t":([0-9.]+)\}/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(done)) !== null) {
      this.received++;
      this.sink(at - Number(m[1]));
    }
  }

  close(): void {
    this.req.destroy();
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function publish(port: number, t: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = `{"t":${t.toFixed(3)}}`;
    const req = http.request(
      { host: '127.0.0.1', port, path: '/pushframe/publish/bench', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error('publish answered ' + res.statusCode))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Result {
  setup: string;
  deliveredPerSecond: number;
  burstP50: number;
  burstP99: number;
  pacedP50: number;
  pacedP99: number;
  deliveries: number;
}

const progress = (text: string) => process.stderr.write(`redis-fanout: ${text}\n`);

async function measure(setup: string, ports: number[], o: Options): Promise<Result> {
  progress(`${setup}: opening ${o.streams} streams`);
  let latencies = new Float64Array(o.streams * o.messages);
  let count = 0;
  const sink = (ms: number) => {
    if (count < latencies.length) latencies[count] = ms;
    count++;
  };
  const streams: Stream[] = [];
  for (let i = 0; i < o.streams; i++) {
    streams.push(new Stream(`http://127.0.0.1:${ports[i % ports.length]}/pushframe/stream?channels=bench`, sink));
    if (i % 50 === 49) await sleep(10);
  }
  await until(() => streams.every((s) => s.opened), `${o.streams} streams to open`, 20_000);

  progress(`${setup}: burst of ${o.messages}`);
  // Burst: throughput.
  const started = now();
  let next = 0;
  const worker = async () => {
    while (next < o.messages) {
      next++;
      await publish(ports[0], now());
    }
  };
  await Promise.all(Array.from({ length: o.inFlight }, worker));
  const expected = o.streams * o.messages;
  await until(() => count >= expected, `${expected} deliveries (have ${count})`, 120_000);
  const seconds = (now() - started) / 1000;
  const burst = latencies.slice(0, expected).sort();

  progress(`${setup}: paced ${o.pacedMessages} at ${o.pacedRate}/s`);
  // Paced: latency.
  latencies = new Float64Array(o.streams * o.pacedMessages);
  count = 0;
  const gap = 1000 / o.pacedRate;
  const t0 = now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < o.pacedMessages; i++) {
    const wait = t0 + i * gap - now();
    if (wait > 0) await sleep(wait);
    pending.push(publish(ports[0], now()));
  }
  await Promise.all(pending);
  await until(() => count >= latencies.length, `paced deliveries (have ${count} of ${latencies.length})`, 20_000);
  const paced = latencies.sort();
  for (const s of streams) s.close();
  await sleep(200);
  return {
    setup,
    deliveredPerSecond: Math.round(expected / seconds),
    burstP50: percentile(burst, 50),
    burstP99: percentile(burst, 99),
    pacedP50: percentile(paced, 50),
    pacedP99: percentile(paced, 99),
    deliveries: expected,
  };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const results: Result[] = [];
  const children: ChildProcess[] = [];
  let redis: TestRedis | null = null;
  // Interrupted: take the nodes down with us.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const c of children) c.kill('SIGKILL');
      void redis?.stop().finally(() => process.exit(130));
    });
  }
  try {
    const [m1, r1, r2] = await freePorts(3);
    progress('starting nodes');
    const mem = await startNode(m1, 'memory');
    children.push(mem);
    results.push(await measure('1 node, memory broker', [m1], o));
    await stop(mem);

    redis = await startRedis();
    const a = await startNode(r1, redis.url);
    const b = await startNode(r2, redis.url);
    children.push(a, b);
    results.push(await measure('2 nodes, redis broker', [r1, r2], o));
  } finally {
    for (const c of children) await stop(c);
    await redis?.stop();
    agent.destroy();
  }
  const f = (x: number) => x.toFixed(1);
  console.log(`streams=${o.streams} messages=${o.messages} inFlight=${o.inFlight} paced=${o.pacedMessages}@${o.pacedRate}/s node=${process.version}`);
  console.log('| setup | delivered msgs/s (burst) | burst p50 / p99 ms | paced p50 / p99 ms |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(`| ${r.setup} | ${r.deliveredPerSecond} | ${f(r.burstP50)} / ${f(r.burstP99)} | ${f(r.pacedP50)} / ${f(r.pacedP99)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
