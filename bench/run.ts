/**
 * `npm run bench`: opens N forever-frame streams from this process against a server in
 * a child process (pushframe, then the bare-Node baseline), publishes M messages inside
 * the server, and reports throughput, latency, memory, bytes and correctness, each
 * pushframe figure also as a ratio to the baseline of the same run.
 *
 * Both processes share the machine's cores: on a 2-core machine the generator and the
 * server compete, so figures are for comparing servers on the same machine, not
 * absolute capacities.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newTotals, openAll, StreamClient } from './clients';
import type { Reply } from './control';
import { HealthProbe } from './health';
import { medianFigures, ratioOf, table, type Figures } from './figures';
import { cpuMicrosOf, machine, machineJiffies, pinSelf, raiseOpenFileLimit, rssOf, ServerProcess, timeWaitSockets, type ServerKind } from './proc';
import { idleTable, IDLE_VARIANTS, runIdle, type IdleFigures } from './idle';
import { expectedFor, SCENARIOS, type Scenario } from './scenarios';
import { spread } from './stats';
import { runWorkers, WORKER_SETUPS, workersTable, type WorkersFigures } from './workers';

interface Options {
  /** null: each scenario's own default (5000 unless it says otherwise). */
  n: number | null;
  m: number | null;
  rate: number | null;
  burst: number | null;
  pad: number;
  scenarios: Scenario[];
  /** The idle-cost measurement (only when asked for: --scenario idle). */
  idle: boolean;
  idleMs: number;
  /** The --workers measurement (only when asked for: --scenario workers). */
  workers: boolean;
  servers: ServerKind[];
  runs: number;
  /** null: each scenario's own default (200 unless it says otherwise). */
  parallel: number | null;
  profile: boolean;
  /** Pin the server to CPU 0 and the generator to CPU 1 (needs two cores or more). */
  pin: boolean;
  /** Give up waiting for deliveries after this long without progress. */
  stallMs: number;
  /** Streams opened and closed before a run's own: a server process that has already served them. */
  rehearse: number;
  /** Extra flags for the server processes' node (e.g. --perf-basic-prof for perf). */
  nodeFlags: string[];
  out: string;
}

const USAGE = `usage: npm run bench -- [flags]
  --n N             streams per scenario (default 5000; memory 19500, storm 10000)
  --m M             messages per scenario (default: per scenario)
  --rate R          messages per second, 0 = as fast as possible (default: per scenario)
  --burst B         messages published in the same tick (default: per scenario)
  --pad BYTES       extra characters in each message's data (default 0)
  --scenario LIST   comma-separated: ${SCENARIOS.map((s) => s.name).join(', ')} or all (default all);
                    idle (only when named): the cost of N streams that receive only heartbeats
                    workers (only when named): fan-out of --workers 1 and 2, generator pinned
                    to CPU 1 (N default 1000, M default 200, published over HTTP)
  --idle-ms MS      how long the idle scenario watches (default 20000, at most 120000)
  --servers LIST    pushframe,baseline (default both)
  --runs K          repeat and report medians (default 1)
  --parallel P      stream handshakes in flight while opening (default 200; storm 1000)
  --profile         write V8 CPU profiles of the server processes (bench/results/profiles/)
  --pin             server on CPU 0, generator on CPU 1 (default: the scheduler places
                    them; pinning did not make runs on a 2-core machine steadier)
  --rehearse K      open and close K streams before each run: the figures are then those
                    of a process that has served K openings (its code compiled by V8)
  --node-flags F    extra node flags for the server processes, e.g. --perf-basic-prof
  --stall-ms MS     stop waiting after this long without a delivery (default 5000)
  --out DIR         where results go (default bench/results)`;

function parseOptions(argv: string[]): Options {
  const opts: Options = {
    n: null,
    m: null,
    rate: null,
    burst: null,
    pad: 0,
    scenarios: SCENARIOS,
    idle: false,
    idleMs: 20_000,
    workers: false,
    servers: ['pushframe', 'baseline'],
    runs: 1,
    parallel: null,
    profile: false,
    pin: false,
    stallMs: 5000,
    rehearse: 0,
    nodeFlags: [],
    out: path.resolve(__dirname, '..', '..', 'bench', 'results'),
  };
  const int = (flag: string, text: string | undefined, min: number): number => {
    if (text === undefined || !/^\d+$/.test(text) || Number(text) < min) throw new Error(`${flag} needs a whole number >= ${min}`);
    return Number(text);
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case '--n': opts.n = int(flag, value(), 1); break;
      case '--m': opts.m = int(flag, value(), 1); break;
      case '--rate': opts.rate = int(flag, value(), 0); break;
      case '--burst': opts.burst = int(flag, value(), 1); break;
      case '--pad': opts.pad = int(flag, value(), 0); break;
      case '--runs': opts.runs = int(flag, value(), 1); break;
      case '--parallel': opts.parallel = int(flag, value(), 1); break;
      case '--stall-ms': opts.stallMs = int(flag, value(), 100); break;
      case '--idle-ms': opts.idleMs = Math.min(120_000, int(flag, value(), 1000)); break;
      case '--profile': opts.profile = true; break;
      case '--rehearse': opts.rehearse = int(flag, value(), 0); break;
      case '--node-flags': opts.nodeFlags = (value() ?? '').split(' ').filter((f) => f.length > 0); break;
      case '--pin': opts.pin = os.availableParallelism() >= 2; break;
      case '--out': opts.out = path.resolve(value() ?? '.'); break;
      case '--scenario': {
        const names = (value() ?? '').split(',');
        opts.idle = names.includes('idle');
        opts.workers = names.includes('workers');
        const rest = names.filter((name) => name !== 'idle' && name !== 'workers');
        opts.scenarios = rest.includes('all') ? SCENARIOS : rest.map((name) => {
          const s = SCENARIOS.find((x) => x.name === name);
          if (!s) throw new Error(`unknown scenario "${name}"; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
          return s;
        });
        break;
      }
      case '--servers': {
        const names = (value() ?? '').split(',');
        for (const name of names) if (name !== 'pushframe' && name !== 'baseline') throw new Error(`unknown server "${name}"`);
        opts.servers = names as ServerKind[];
        break;
      }
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag "${flag}"\n${USAGE}`);
    }
  }
  return opts;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function memOf(server: ServerProcess, collect = true): Promise<{ rss: number; heap: number }> {
  // Without a collection the figures would count garbage: none then.
  if (!collect) return { rss: NaN, heap: NaN };
  // The server collects garbage first (it runs with --expose-gc), then /proc is read.
  const reply = await server.request({ op: 'mem' }, 'mem', 30_000);
  return { rss: rssOf(server.pid).rss, heap: reply.op === 'mem' ? reply.heapUsed + reply.external : NaN };
}

/**
 * Every stream a run closed leaves a socket in TIME_WAIT for a minute (a 5 000-stream run
 * about 10 000, a storm about 20 000), and the generator binds its source address for each
 * connection. As they piled up, the third run of an `open,storm` set took up to twice as
 * long for both servers. The scenarios that measure openings (`settle`) start once fewer
 * than TIME_WAIT_CALM remain, or after TIME_WAIT_MAX_MS.
 */
const TIME_WAIT_CALM = 6000;
const TIME_WAIT_MAX_MS = 70_000;

async function settleTimeWait(): Promise<void> {
  const deadline = performance.now() + TIME_WAIT_MAX_MS;
  let said = false;
  while (timeWaitSockets() > TIME_WAIT_CALM && performance.now() < deadline) {
    if (!said) process.stdout.write(`(waiting for ${timeWaitSockets()} TIME_WAIT sockets to clear) `);
    said = true;
    await sleep(1000);
  }
}

const DEFAULT_N = 5000;
/** The workers scenario's defaults: short enough that three runs of both setups take about a minute. */
const WORKERS_N = 1000;
const WORKERS_M = 200;
const DEFAULT_PARALLEL = 200;
const streamsOf = (scenario: Scenario, opts: Options): number => opts.n ?? scenario.n ?? DEFAULT_N;

/** A server's CPU time so far, every thread and the main thread alone (microseconds). */
function cpuNow(pid: number): { all: number; main: number } {
  return { all: cpuMicrosOf(pid), main: cpuMicrosOf(pid, pid) };
}

async function runScenario(scenario: Scenario, kind: ServerKind, opts: Options, profileDir: string | null): Promise<Figures> {
  const n = streamsOf(scenario, opts);
  const parallel = opts.parallel ?? scenario.parallel ?? DEFAULT_PARALLEL;
  const count = opts.m ?? scenario.messages(n);
  const rate = opts.rate ?? scenario.rate;
  const burst = opts.burst ?? scenario.burst;
  const channels = scenario.channels(n);
  const { server, port, path: streamPath } = await ServerProcess.start(kind, profileDir, opts.pin ? '0' : null, {}, opts.nodeFlags);
  const totals = newTotals();
  const clients = Array.from({ length: n }, (_, i) => new StreamClient(scenario.subscription(i, n), totals));
  // /healthz asked all along the openings and the storm: how responsive the server stays.
  const health = new HealthProbe(port);
  try {
    // A few streams first, so that code and caches warmed by the first connections
    // are not charged to the per-stream memory figure.
    const warm = Math.min(100, Math.max(1, Math.floor(n / 10)));
    if (opts.rehearse > 0) {
      const extra = Array.from({ length: opts.rehearse }, (_, i) => new StreamClient(scenario.subscription(i, n), newTotals()));
      await openAll(extra, port, streamPath, parallel, 60_000);
      for (const c of extra) c.close();
      await sleep(1000);
    }
    await health.start();
    const t0 = performance.now();
    const errors = await openAll(clients.slice(0, warm), port, streamPath, parallel, 30_000);
    const warmMs = performance.now() - t0;
    await sleep(300);
    const memBefore = await memOf(server, !scenario.noCollection);
    const rssBefore = memBefore.rss;
    const t1 = performance.now();
    // The server's own CPU time per opening (after warm-up), where wall time also carries
    // the generator and a shared machine's noise. Taken for each half of the openings, and
    // for the main thread alone: in the first half V8 still compiles the opening's code
    // (on helper threads) and runs it unoptimized, which a fresh process pays once.
    const mid = warm + Math.floor((n - warm) / 2);
    const openCpu0 = cpuNow(server.pid);
    const at0 = monotonicMicros();
    errors.push(...(await openAll(clients.slice(warm, mid), port, streamPath, parallel, 60_000)));
    const openCpu1 = cpuNow(server.pid);
    const at1 = monotonicMicros();
    errors.push(...(await openAll(clients.slice(mid), port, streamPath, parallel, 60_000)));
    const openCpu2 = cpuNow(server.pid);
    // Beside the profile: when each half of the openings ran, for `profile.js --window`.
    if (server.profilePath !== null) writeFileSync(server.profilePath + '.window.json', JSON.stringify({ first: [at0, at1], later: [at1, monotonicMicros()] }));
    const openMs = warmMs + performance.now() - t1;
    const openCpuMicros = n > warm ? (openCpu2.all - openCpu0.all) / (n - warm) : NaN;
    const openCpuFirstMicros = mid > warm ? (openCpu1.all - openCpu0.all) / (mid - warm) : NaN;
    const openCpuLaterMicros = n > mid ? (openCpu2.all - openCpu1.all) / (n - mid) : NaN;
    const openCpuFirstMainMicros = mid > warm ? (openCpu1.main - openCpu0.main) / (mid - warm) : NaN;
    const openCpuLaterMainMicros = n > mid ? (openCpu2.main - openCpu1.main) / (n - mid) : NaN;
    await health.stop();
    await sleep(500);
    const memAfter = n > warm ? await memOf(server, !scenario.noCollection) : memBefore;
    const rssAfter = memAfter.rss;
    if (errors.length > 0) console.error(`  ${kind}: ${errors.length} streams failed to open, e.g. ${errors[0]}`);
    if (scenario.storm) return { ...(await runStorm(scenario, kind, server, port, streamPath, clients, totals, health, parallel, opts)), streams: n - errors.length, openFailures: errors.length, openMs, openCpuMicros, openCpuFirstMicros, openCpuLaterMicros, openCpuFirstMainMicros, openCpuLaterMainMicros, rssBeforeMiB: rssBefore / 2 ** 20, rssAfterMiB: rssAfter / 2 ** 20, rssPerStreamKiB: (rssAfter - rssBefore) / (n - warm) / 1024, heapPerStreamKiB: (memAfter.heap - memBefore.heap) / (n - warm) / 1024 };

    const expectedBySub = new Map<string, number>();
    let expected = 0;
    for (const c of clients) {
      if (!c.opened) continue;
      let e = expectedBySub.get(c.patterns);
      if (e === undefined) expectedBySub.set(c.patterns, (e = expectedFor(c.patterns, channels, count)));
      expected += e;
      c.expect(count);
    }

    const cpu0 = cpuMicrosOf(server.pid);
    const gen0 = process.cpuUsage();
    const machine0 = machineJiffies();
    const wall0 = performance.now();
    const published = server.request({ op: 'publish', plan: { channels, count, rate, burst, pad: opts.pad } }, 'published', 600_000);
    let reply: Awaited<typeof published> | null = null;
    published.then((r) => (reply = r), () => undefined);
    let last = -1;
    let lastChange = performance.now();
    // Bounded: ends when everything arrived, or nothing arrived for stallMs after publishing.
    for (;;) {
      await sleep(20);
      if (totals.delivered !== last) {
        last = totals.delivered;
        lastChange = performance.now();
      }
      if (totals.delivered >= expected && reply) break;
      if (reply && performance.now() - lastChange > opts.stallMs) break;
      if (performance.now() - wall0 > 600_000) throw new Error('publishing did not finish within 10 minutes');
    }
    const done = (await published) as Extract<Awaited<typeof published>, { op: 'published' }>;
    const wallMicros = (performance.now() - wall0) * 1000;
    const gen = process.cpuUsage(gen0);
    const machine1 = machineJiffies();
    const serverCpu = cpuMicrosOf(server.pid) - cpu0;
    const peak = rssOf(server.pid).peak;

    const open = clients.filter((c) => c.opened);
    let before = 0;
    let head = 0;
    let after = 0;
    for (const c of open) {
      before += c.bytesAtStart;
      head += c.reader.headBytes;
      after += c.reader.wireBytes - c.bytesAtStart;
    }
    const lat = spread(totals.latency);
    const delivered = totals.delivered;
    const payload = done.payloadBytes / done.count;
    const perMessage = delivered > 0 ? after / delivered : NaN;
    if (totals.unexpectedFrames.length > 0) console.error(`  ${kind}: unexpected frames, e.g. ${totals.unexpectedFrames[0]}`);
    return {
      streams: open.length,
      openFailures: errors.length,
      openMs,
      openCpuMicros,
      openCpuFirstMicros,
      openCpuLaterMicros,
      openCpuFirstMainMicros,
      openCpuLaterMainMicros,
      rssBeforeMiB: rssBefore / 2 ** 20,
      rssAfterMiB: rssAfter / 2 ** 20,
      rssPerStreamKiB: n > warm ? (rssAfter - rssBefore) / (n - warm) / 1024 : NaN,
      heapPerStreamKiB: n > warm ? (memAfter.heap - memBefore.heap) / (n - warm) / 1024 : NaN,
      rssPeakMiB: peak / 2 ** 20,
      published: done.count,
      expected,
      delivered,
      lost: expected - delivered,
      duplicates: totals.duplicates,
      outOfOrder: totals.outOfOrder,
      droppedStreams: totals.dropped,
      unexpectedFrames: totals.unexpectedFrames.length,
      deliveredPerSec: delivered > 0 ? delivered / ((totals.lastReceiveMicros - totals.firstSendMicros) / 1e6) : 0,
      latencyP50Ms: lat.p50,
      latencyP99Ms: lat.p99,
      latencyMaxMs: lat.max,
      headBytes: open.length ? head / open.length : NaN,
      bytesBeforeFirstMessage: open.length ? before / open.length : NaN,
      wireBytesPerMessage: perMessage,
      payloadBytesPerMessage: payload,
      overheadBytesPerMessage: perMessage - payload,
      serverCpuMicrosPerDelivery: delivered > 0 ? serverCpu / delivered : NaN,
      publishMs: done.ms,
      loopDelayP99Ms: done.loopDelayP99Ms,
      loopDelayMaxMs: done.loopDelayMaxMs,
      serverCpuPercent: (serverCpu / wallMicros) * 100,
      machineCpuPercent: (100 * (machine1.busy - machine0.busy)) / Math.max(1, machine1.total - machine0.total),
      generatorCpuPercent: ((gen.user + gen.system) / wallMicros) * 100,
      stormMs: NaN,
      refused: 0,
      healthzMaxMs: health.maxMs,
    };
  } finally {
    await health.stop();
    for (const c of clients) c.close();
    await server.stop();
  }
}

/**
 * The storm: every client drops its connection, the plan's messages are published
 * while they are away, then all reconnect at once (`parallel` handshakes in flight)
 * with the cursor of their open frame. Done when every stream is open again and has
 * its backlog. The baseline has no history: its clients simply open again, which is
 * the time the storm is compared with.
 */
async function runStorm(
  scenario: Scenario,
  kind: ServerKind,
  server: ServerProcess,
  port: number,
  streamPath: string,
  clients: StreamClient[],
  totals: ReturnType<typeof newTotals>,
  health: HealthProbe,
  parallel: number,
  opts: Options,
): Promise<Omit<Figures, 'streams' | 'openFailures' | 'openMs' | 'openCpuMicros' | 'openCpuFirstMicros' | 'openCpuLaterMicros' | 'openCpuFirstMainMicros' | 'openCpuLaterMainMicros' | 'rssBeforeMiB' | 'rssAfterMiB' | 'rssPerStreamKiB' | 'heapPerStreamKiB'>> {
  const n = clients.length;
  const count = opts.m ?? scenario.messages(n);
  const channels = scenario.channels(n);
  const resumes = kind === 'pushframe';
  let expected = 0;
  for (const c of clients) {
    c.expect(count);
    if (resumes && c.opened) expected += expectedFor(c.patterns, channels, count);
    c.reset();
  }
  // Let the server see every connection go before publishing what the clients miss.
  await sleep(1000);
  const done = (await server.request({ op: 'publish', plan: { channels, count, rate: 0, burst: 1, pad: opts.pad } }, 'published', 120_000)) as Extract<Reply, { op: 'published' }>;
  const cpu0 = cpuMicrosOf(server.pid);
  await health.start();
  const t0 = performance.now();
  const errors = await openAll(clients, port, streamPath, parallel, 60_000, (c) => (resumes && c.cursor ? '&since=' + encodeURIComponent(c.cursor) : ''));
  while (totals.delivered < expected && performance.now() - t0 < 60_000) await sleep(5);
  const stormMs = performance.now() - t0;
  await health.stop();
  const serverCpu = cpuMicrosOf(server.pid) - cpu0;
  if (errors.length > 0) console.error(`  ${kind}: ${errors.length} streams refused on reconnecting, e.g. ${errors[0]}`);
  const lat = spread(totals.latency);
  return {
    published: done.count,
    expected,
    delivered: totals.delivered,
    lost: expected - totals.delivered,
    duplicates: totals.duplicates,
    outOfOrder: totals.outOfOrder,
    droppedStreams: 0,
    unexpectedFrames: totals.unexpectedFrames.length,
    deliveredPerSec: NaN,
    latencyP50Ms: lat.p50,
    latencyP99Ms: lat.p99,
    latencyMaxMs: lat.max,
    rssPeakMiB: rssOf(server.pid).peak / 2 ** 20,
    // Measured while publishing, not during the storm: not a figure of this scenario.
    loopDelayP99Ms: NaN,
    loopDelayMaxMs: NaN,
    headBytes: NaN,
    bytesBeforeFirstMessage: NaN,
    wireBytesPerMessage: NaN,
    payloadBytesPerMessage: NaN,
    overheadBytesPerMessage: NaN,
    serverCpuMicrosPerDelivery: NaN,
    publishMs: done.ms,
    serverCpuPercent: (serverCpu / (stormMs * 1000)) * 100,
    machineCpuPercent: NaN,
    generatorCpuPercent: NaN,
    stormMs,
    refused: errors.length,
    healthzMaxMs: health.maxMs,
  };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const most = Math.max(opts.n ?? WORKERS_N, ...opts.scenarios.map((s) => streamsOf(s, opts)));
  // The generator holds every stream's socket, and so does the server (a child: it inherits the limit).
  const limit = raiseOpenFileLimit(most + 1024);
  if (limit < most + 256) {
    throw new Error(`open-file limit is ${limit}, ${most} streams need about ${most + 256}: run "ulimit -n ${most + 1024}" first (or lower --n)`);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(opts.out, { recursive: true });
  const profileDir = opts.profile ? path.join(opts.out, 'profiles', stamp) : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  if (opts.pin && !pinSelf('1')) {
    console.error('could not pin the generator to CPU 1 (is taskset from util-linux installed?); running unpinned');
    opts.pin = false;
  }
  const host = machine();
  console.log(`pushframe bench: ${host.nproc} cores (${host.cpu}), ${host.memTotalGiB} GiB, node ${host.node}; N=${opts.n ?? 'per scenario'}, runs=${opts.runs}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(
    opts.pin
      ? 'server pinned to CPU 0, generator to CPU 1 (each has one core, the kernel work of loopback included); loopback only\n'
      : 'generator and server are separate processes sharing these cores; loopback only\n',
  );

  const runs: { run: number; scenario: string; server: ServerKind; figures: Figures }[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    for (const scenario of opts.scenarios) {
      // Alternate which server goes first so warm-machine effects do not favour one.
      const order = run % 2 === 1 ? opts.servers : [...opts.servers].reverse();
      for (const kind of order) {
        if (scenario.settle) await settleTimeWait();
        process.stdout.write(`run ${run}/${opts.runs} ${scenario.name} ${kind} ... `);
        const figures = await runScenario(scenario, kind, opts, profileDir);
        runs.push({ run, scenario: scenario.name, server: kind, figures });
        console.log(
          scenario.storm
            ? `back in ${Math.round(figures.stormMs)} ms (first open ${Math.round(figures.openMs)} ms), refused ${figures.refused}, lost ${figures.lost}, /healthz max ${figures.healthzMaxMs.toFixed(0)} ms`
            : `${Math.round(figures.deliveredPerSec)} msgs/s, p99 ${figures.latencyP99Ms.toFixed(1)} ms, loop delay p99 ${figures.loopDelayP99Ms.toFixed(1)} ms, lost ${figures.lost}, ${figures.rssPerStreamKiB.toFixed(1)} KiB/stream, open ${Math.round(figures.openMs)} ms (${figures.openCpuMicros.toFixed(0)} us CPU each)`,
        );
      }
    }
  }

  const idle: IdleFigures[] = [];
  if (opts.idle) {
    for (const variant of IDLE_VARIANTS) {
      process.stdout.write(`idle ${variant.label} ... `);
      const fig = await runIdle(variant, opts.n ?? DEFAULT_N, opts.idleMs, opts.parallel ?? DEFAULT_PARALLEL);
      idle.push(fig);
      console.log(`${Math.round(fig.bytesPerSecondPer10k)} B/s and ${fig.serverCpuMsPerSecondPer10k.toFixed(1)} CPU ms/s per 10 000 streams`);
    }
  }

  const workerRuns: WorkersFigures[] = [];
  let generatorPinned = false;
  if (opts.workers) {
    // The generator gets one core; the servers may use every core (taskset resets what they would inherit).
    const all = `0-${os.availableParallelism() - 1}`;
    generatorPinned = os.availableParallelism() >= 2 && pinSelf('1');
    if (!generatorPinned) console.error('workers: could not pin the generator to CPU 1 (one core, or no taskset from util-linux); running unpinned');
    const n = opts.n ?? WORKERS_N;
    const m = opts.m ?? WORKERS_M;
    for (let run = 1; run <= opts.runs; run++) {
      const order = run % 2 === 1 ? WORKER_SETUPS : [...WORKER_SETUPS].reverse();
      for (const setup of order) {
        process.stdout.write(`run ${run}/${opts.runs} workers ${setup.setup} ... `);
        const fig = await runWorkers(setup, n, m, opts.parallel ?? DEFAULT_PARALLEL, opts.stallMs, generatorPinned ? all : null);
        workerRuns.push(fig);
        console.log(`${Math.round(fig.deliveredPerSec)} msgs/s, p99 ${fig.latencyP99Ms.toFixed(1)} ms, server ${fig.serverCores.toFixed(2)} cores, generator ${fig.generatorCores.toFixed(2)} cores, lost ${fig.lost}`);
      }
    }
  }

  const summary: Record<string, { what: string; pushframe?: Figures; baseline?: Figures; ratio?: Partial<Record<keyof Figures, number>> }> = {};
  console.log('');
  for (const scenario of opts.scenarios) {
    const pick = (kind: ServerKind): Figures | undefined => {
      const mine = runs.filter((r) => r.scenario === scenario.name && r.server === kind).map((r) => r.figures);
      return mine.length ? medianFigures(mine) : undefined;
    };
    const pf = pick('pushframe');
    const base = pick('baseline');
    const entry: (typeof summary)[string] = { what: scenario.what, pushframe: pf, baseline: base };
    if (pf && base) {
      entry.ratio = {};
      for (const key of Object.keys(pf) as (keyof Figures)[]) entry.ratio[key] = ratioOf(pf[key], base[key]);
    }
    summary[scenario.name] = entry;
    const title = `${scenario.name}: ${scenario.what} (N=${streamsOf(scenario, opts)}${opts.runs > 1 ? `, median of ${opts.runs} runs` : ''})`;
    console.log(table(title, pf, base) + '\n');
  }
  if (idle.length > 0) console.log(`idle: N=${opts.n ?? DEFAULT_N} streams receiving nothing but heartbeats for ${opts.idleMs} ms\n` + idleTable(idle) + '\n');
  if (workerRuns.length > 0) {
    const pinned = generatorPinned ? 'generator pinned to CPU 1, servers on every core' : 'generator unpinned';
    console.log(`workers: N=${opts.n ?? WORKERS_N} streams on one channel, M=${opts.m ?? WORKERS_M} messages published over HTTP; ${pinned}${opts.runs > 1 ? `; median of ${opts.runs} runs` : ''}\n` + workersTable(workerRuns) + '\n');
  }
  const file = path.join(opts.out, `${stamp}.json`);
  writeFileSync(file, JSON.stringify({ startedAt: stamp, machine: host, argv: process.argv.slice(2), options: { ...opts, scenarios: opts.scenarios.map((s) => s.name) }, runs, summary, idle, workers: workerRuns }, null, 2));
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  if (profileDir) console.log(`profiles: ${path.relative(process.cwd(), profileDir)}`);
  const failed = runs.filter((r) => r.figures.lost + r.figures.duplicates + r.figures.outOfOrder + r.figures.openFailures + r.figures.refused > 0);
  if (failed.length > 0) {
    console.error(`${failed.length} scenario runs lost, duplicated, reordered or failed to open streams`);
    process.exitCode = 1;
  }
  const workersFailed = workerRuns.filter((f) => f.lost + f.duplicates + f.outOfOrder > 0);
  if (workersFailed.length > 0) {
    console.error(`workers: ${workersFailed.length} runs lost, duplicated or reordered messages`);
    process.exitCode = 1;
  }
  const idleFailed = idle.filter((f) => f.unexpectedFrames + f.dropped > 0);
  if (idleFailed.length > 0) {
    console.error(`idle: ${idleFailed.map((f) => f.server).join(', ')} dropped streams or sent unexpected frames`);
    process.exitCode = 1;
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});

/**
 * Microseconds on the monotonic clock, which V8's CPU profiles in other processes of this
 * machine also use for their timestamps.
 */
function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
