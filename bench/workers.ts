/**
 * `--scenario workers`: fan-out throughput of one pushframe process (`--workers 1`, the
 * baseline) and of `--workers 2` (node:cluster, the memory broker held by the primary),
 * same machine, same run. The server is the CLI as users run it; this process is the load
 * generator, pinned to one core with taskset when it can be: it holds every stream's
 * socket and publishes over HTTP (one publish in flight), since with workers there is
 * no single server process to publish in. Throughput = deliveries / (last receive - first
 * send). Server CPU is the primary's plus every worker's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { newTotals, openAll, StreamClient, type Totals } from './clients';
import { nowMicros, type BenchData } from './control';
import { cpuMicrosOf } from './proc';
import { median, spread } from './stats';

export interface WorkersFigures {
  setup: string;
  workers: number;
  streams: number;
  messages: number;
  deliveredPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Server CPU (primary + workers) per delivery. */
  serverCpuMicrosPerDelivery: number;
  /** Server CPU over the burst, in cores (1.0 = one core busy all the time). */
  serverCores: number;
  /** The generator's CPU over the burst, in cores: near 1.0 means it was the ceiling. */
  generatorCores: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
}

export const WORKER_SETUPS = [
  { workers: 1, setup: '1 process (--workers 1)' },
  { workers: 2, setup: '2 workers (--workers 2, memory broker in the primary)' },
];

/**
 * One publish in flight: the sequence numbers then follow the ids, so order is checked as
 * in the other scenarios, and each message's fan-out is measured on its own (several
 * publishes in flight would coalesce writes differently in the two setups).
 */
const IN_FLIGHT = 1;
const CHANNEL = 'bench/workers';
const CLI = path.join(__dirname, '..', 'src', 'cli.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The CLI on a free port with limits opened for one client machine; `cpus` resets the affinity this process may have. */
async function startCli(workers: number, cpus: string | null): Promise<{ child: ChildProcess; port: number }> {
  const env = {
    PATH: process.env.PATH ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    PUSHFRAME_WORKERS: String(workers),
    PUSHFRAME_DEMO: 'false',
    PUSHFRAME_STATS_INTERVAL_MS: '0',
    PUSHFRAME_HEARTBEAT_MS: '300000',
    PUSHFRAME_MAX_STREAM_BYTES: String(1 << 30),
    PUSHFRAME_MAX_CONNECTIONS: '1000000',
    PUSHFRAME_MAX_CONNECTIONS_PER_IP: '1000000',
    PUSHFRAME_MAX_STREAMS_PER_BROWSER: '0',
  };
  const [cmd, args] = cpus === null ? [process.execPath, [CLI]] : ['taskset', ['-c', cpus, process.execPath, CLI]];
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not log its url within 20 s')), 20_000);
    child.stdout!.on('data', (c: string) => {
      out += c;
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)));
  });
  return { child, port };
}

/** The primary and its workers: the primary's children, from /proc. */
function serverPids(primary: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // Not Linux, or gone: the primary alone.
  }
  return [primary, ...children];
}

const cpuOf = (pids: number[]): number => pids.reduce((sum, pid) => sum + cpuMicrosOf(pid), 0);

function publishOne(agent: http.Agent, port: number, data: BenchData): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(data);
    const req = http.request(
      { host: '127.0.0.1', port, path: `/pushframe/publish/${CHANNEL}`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error('publish answered ' + res.statusCode))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForDeliveries(totals: Totals, expected: number, stallMs: number): Promise<void> {
  let last = totals.delivered;
  let lastChange = Date.now();
  while (totals.delivered < expected) {
    await sleep(20);
    if (totals.delivered !== last) {
      last = totals.delivered;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > stallMs) return;
  }
}

export async function runWorkers(
  setup: (typeof WORKER_SETUPS)[number],
  n: number,
  m: number,
  parallel: number,
  stallMs: number,
  serverCpus: string | null,
): Promise<WorkersFigures> {
  const { child, port } = await startCli(setup.workers, serverCpus);
  const exited = new Promise((r) => child.once('exit', r));
  const totals = newTotals();
  const clients = Array.from({ length: n }, () => new StreamClient(CHANNEL, totals));
  const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  try {
    const errors = await openAll(clients, port, '/pushframe/stream?channels=', parallel, 60_000);
    if (errors.length > 0) throw new Error(`${errors.length} streams failed to open, e.g. ${errors[0]}`);
    for (const c of clients) c.expect(m);
    await sleep(300);
    const pids = serverPids(child.pid as number);
    const cpu0 = cpuOf(pids);
    const gen0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    const publisher = async (): Promise<void> => {
      while (next < m) {
        const s = next++;
        await publishOne(agent, port, { s, t: nowMicros() });
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, publisher));
    await waitForDeliveries(totals, n * m, stallMs);
    const wallMicros = (performance.now() - t0) * 1000;
    const serverCpu = cpuOf(pids) - cpu0;
    const gen = process.cpuUsage(gen0);
    const seconds = (totals.lastReceiveMicros - totals.firstSendMicros) / 1e6;
    const lat = spread(totals.latency);
    return {
      setup: setup.setup,
      workers: setup.workers,
      streams: n,
      messages: m,
      deliveredPerSec: totals.delivered / seconds,
      latencyP50Ms: lat.p50,
      latencyP99Ms: lat.p99,
      serverCpuMicrosPerDelivery: serverCpu / Math.max(1, totals.delivered),
      serverCores: serverCpu / wallMicros,
      generatorCores: (gen.user + gen.system) / wallMicros,
      lost: n * m - totals.delivered - totals.duplicates,
      duplicates: totals.duplicates,
      outOfOrder: totals.outOfOrder,
    };
  } finally {
    for (const c of clients) c.close();
    agent.destroy();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  }
}

/** Medians per setup over the runs, and the ratio of each setup's throughput to one process's. */
export function workersTable(runs: WorkersFigures[]): string {
  const rows: string[] = [
    '| setup | runs | delivered msgs/s | vs 1 process | p50 / p99 latency ms | server CPU µs / delivery | server cores busy | generator cores busy | lost / dup / out of order |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const med = (list: WorkersFigures[], key: keyof WorkersFigures): number => median(list.map((r) => r[key] as number));
  const base = runs.filter((r) => r.workers === 1);
  const baseRate = base.length ? med(base, 'deliveredPerSec') : NaN;
  for (const { setup } of WORKER_SETUPS) {
    const mine = runs.filter((r) => r.setup === setup);
    if (mine.length === 0) continue;
    const rate = med(mine, 'deliveredPerSec');
    const sum = (key: keyof WorkersFigures): number => mine.reduce((a, r) => a + (r[key] as number), 0);
    rows.push(
      `| ${setup} | ${mine.length} | ${Math.round(rate)} | ${(rate / baseRate).toFixed(2)}× | ${med(mine, 'latencyP50Ms').toFixed(1)} / ${med(mine, 'latencyP99Ms').toFixed(1)} | ${med(mine, 'serverCpuMicrosPerDelivery').toFixed(2)} | ${med(mine, 'serverCores').toFixed(2)} | ${med(mine, 'generatorCores').toFixed(2)} | ${sum('lost')} / ${sum('duplicates')} / ${sum('outOfOrder')} |`,
    );
  }
  return rows.join('\n');
}
