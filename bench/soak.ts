/**
 * Soak: holds thousands of forever-frame streams against a real server process for a few
 * minutes while messages flow, and samples the server's memory. Not part of the test run.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/soak.js [--connections 3000] [--minutes 4]
 *     [--rate 100] [--channels 10] [--out bench/results/soak.json]
 *
 * Loopback only. Streams recycle (maxStreamBytes) and resume with their cursor, so the run
 * also churns connections; every client checks it sees each message of its channel once,
 * in order. Prints a Markdown summary.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';

interface Options {
  connections: number;
  minutes: number;
  rate: number;
  channels: number;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { connections: 3000, minutes: 4, rate: 100, channels: 10, out: 'bench/results/soak.json' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '') as keyof Options;
    if (!(key in o)) throw new Error(`unknown option ${argv[i]}`);
    (o as unknown as Record<string, unknown>)[key] = key === 'out' ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (o.minutes > 30 || o.connections > 20_000) throw new Error('bounded: at most 30 minutes and 20 000 connections');
  return o;
}

const ROOT = join(__dirname, '..', '..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface SoakServer {
  pid: number;
  port: number;
  stop: () => Promise<number | null>;
  /** Full GC in the server, then its live heap and RSS in MB (gc-probe.ts). */
  probe: () => Promise<{ heapMb: number; rssMb: number }>;
}

async function startServer(): Promise<SoakServer> {
  const child = spawn(process.execPath, ['--expose-gc', '-r', join(ROOT, 'dist', 'bench', 'gc-probe.js'), join(ROOT, 'dist', 'src', 'cli.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      PUSHFRAME_DEMO: 'false',
      PUSHFRAME_STATS_INTERVAL_MS: '0',
      PUSHFRAME_MAX_CONNECTIONS_PER_IP: '100000',
      PUSHFRAME_HEARTBEAT_MS: '10000',
      // Small enough that every stream recycles (and resumes) a few times during the run.
      PUSHFRAME_MAX_STREAM_BYTES: String(32 * 1024),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let out = '';
  let probed: ((p: { heapMb: number; rssMb: number }) => void) | null = null;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => {
    out += c;
    let nl: number;
    while ((nl = out.indexOf('\n')) !== -1) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      const m = /"gcProbe":\{"rss":(\d+),"heapUsed":(\d+)/.exec(line);
      if (m && probed) probed({ rssMb: Number(m[1]) / 1048576, heapMb: Number(m[2]) / 1048576 });
      const u = /"url":"http:\/\/[^:]+:(\d+)"/.exec(line);
      if (u) child.emit('port', Number(u[1]));
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('port', resolve);
    setTimeout(() => reject(new Error('server did not start')), 10_000);
  });
  return {
    pid: child.pid as number,
    port,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    probe: () =>
      new Promise((resolve) => {
        probed = (p) => {
          probed = null;
          resolve({ heapMb: Math.round(p.heapMb * 10) / 10, rssMb: Math.round(p.rssMb * 10) / 10 });
        };
        child.kill('SIGUSR2');
      }),
  };
}

/** One stream reader over a raw socket, resuming with its cursor as the bridge does. */
class Reader {
  cursor = '';
  next = 0;
  received = 0;
  gaps = 0;
  dupes = 0;
  reconnects = 0;
  private rest = '';
  private socket: net.Socket | null = null;
  private stopped = false;

  constructor(
    private readonly port: number,
    private readonly channel: string,
  ) {}

  connect(): void {
    if (this.stopped) return;
    const since = this.cursor ? '&since=' + encodeURIComponent(this.cursor) : '';
    const s = net.connect(this.port, '127.0.0.1');
    this.socket = s;
    this.rest = '';
    let head = true;
    s.setEncoding('latin1');
    s.on('connect', () => s.write(`GET /pushframe/stream?channels=${this.channel}${since} HTTP/1.1\r\nHost: soak\r\n\r\n`));
    s.on('data', (c: string) => {
      this.rest += c;
      if (head) {
        const at = this.rest.indexOf('<script>p.');
        if (at === -1) return;
        head = false;
        this.rest = this.rest.slice(at);
      }
      let end: number;
      while ((end = this.rest.indexOf('</script>')) !== -1) {
        this.frame(this.rest.slice(8, end));
        this.rest = this.rest.slice(end + 9);
      }
    });
    s.on('close', () => {
      if (this.stopped) return;
      this.reconnects++;
      setTimeout(() => this.connect(), 50 + Math.random() * 200);
    });
    s.on('error', () => undefined);
  }

  stop(): void {
    this.stopped = true;
    this.socket?.destroy();
  }

  private frame(text: string): void {
    // text: p.X(args) (chunked encoding's size lines may sit between frames; they are outside)
    const m = /p\.([a-z])\(([\s\S]*)\)$/.exec(text);
    if (!m) return;
    const args = JSON.parse('[' + m[2] + ']') as unknown[];
    if (m[1] === 'o') this.cursor = args[0] as string;
    if (m[1] === 'x') this.gaps++;
    if (m[1] !== 'm') return;
    for (let i = 0; i < args.length; i += 3) {
      const id = args[i + 1] as string;
      const seq = (args[i + 2] as { s: number }).s;
      if (seq < this.next) this.dupes++;
      else if (seq > this.next && this.received > 0) this.gaps++;
      this.next = seq + 1;
      this.received++;
      this.cursor = setEntry(this.cursor, this.channel, id);
    }
  }
}

function setEntry(cursor: string, channel: string, id: string): string {
  const parts = cursor.split(',');
  const kept = parts.filter((p, i) => i === 0 || p.slice(0, p.lastIndexOf('@')) !== channel);
  kept.push(channel + '@' + id);
  return kept.join(',');
}

/** Publishes over one keep-alive socket, one request at a time. */
class Publisher {
  private socket: net.Socket;
  private waiting: (() => void) | null = null;
  private buf = '';
  failures = 0;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (c: string) => {
      this.buf += c;
      const at = this.buf.indexOf('HTTP/1.1 ');
      if (at === -1) return;
      if (this.buf.slice(at + 9, at + 12) !== '202') this.failures++;
      const end = this.buf.indexOf('}', at);
      if (end === -1) return;
      this.buf = this.buf.slice(end + 1);
      this.waiting?.();
    });
  }

  publish(channel: string, body: string): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(
        `POST /pushframe/publish/${channel} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

async function stats(
  port: number,
): Promise<{ connections: { total: number }; drops: Record<string, number>; messages: Record<string, number>; memory: { heapUsed: number } }> {
  return (await (await fetch(`http://127.0.0.1:${port}/pushframe/stats`)).json()) as never;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const server = await startServer();
  const samples: { t: number; rssMb: number; heapMb: number; connections: number }[] = [];
  const probes: { t: number; liveHeapMb: number; rssMb: number }[] = [];
  const probe = async (): Promise<void> => {
    const p = await server.probe();
    probes.push({ t: Math.round((Date.now() - t0) / 1000), liveHeapMb: p.heapMb, rssMb: p.rssMb });
  };
  const t0 = Date.now();
  const sample = async (): Promise<void> => {
    const s = await stats(server.port);
    samples.push({
      t: Math.round((Date.now() - t0) / 1000),
      rssMb: Math.round(rssMb(server.pid) * 10) / 10,
      heapMb: Math.round((s.memory.heapUsed / 1048576) * 10) / 10,
      connections: s.connections.total,
    });
  };
  await sample();

  const readers: Reader[] = [];
  for (let i = 0; i < o.connections; i++) {
    const r = new Reader(server.port, `soak/${i % o.channels}`);
    readers.push(r);
    r.connect();
    if (i % 100 === 99) await sleep(20);
  }
  for (let i = 0; i < 100; i++) {
    if ((await stats(server.port)).connections.total >= o.connections) break;
    await sleep(100);
  }
  await sample();
  const openedAt = samples[samples.length - 1];

  const publisher = new Publisher(server.port);
  const seq = new Array<number>(o.channels).fill(0);
  const pad = 'x'.repeat(80);
  const end = Date.now() + o.minutes * 60_000;
  let published = 0;
  let nextSample = Date.now() + 5_000;
  let nextProbe = Date.now() + 30_000;
  await probe();
  while (Date.now() < end) {
    const tickStart = Date.now();
    const k = published % o.channels;
    await publisher.publish(`soak/${k}`, JSON.stringify({ s: seq[k]++, pad }));
    published++;
    if (Date.now() >= nextSample) {
      await sample();
      nextSample += 5_000;
    }
    if (Date.now() >= nextProbe) {
      await probe();
      nextProbe += 30_000;
    }
    const wait = 1000 / o.rate - (Date.now() - tickStart);
    if (wait > 0) await sleep(wait);
  }
  // Let the last messages land, including at readers caught between a recycle and a resume.
  const expectedOf = (i: number): number => seq[i % o.channels];
  for (let i = 0; i < 150 && readers.some((r, j) => r.received < expectedOf(j)); i++) await sleep(100);
  await sample();
  await probe();
  const final = await stats(server.port);
  publisher.close();
  for (const r of readers) r.stop();
  const exitCode = await server.stop();

  const afterOpen = samples.filter((s) => s.t >= openedAt.t);
  const rss = afterOpen.map((s) => s.rssMb);
  const firstMinute = afterOpen.filter((s) => s.t <= openedAt.t + 60).map((s) => s.rssMb);
  const lastMinute = afterOpen.filter((s) => s.t >= afterOpen[afterOpen.length - 1].t - 60).map((s) => s.rssMb);
  const mean = (xs: number[]): number => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;
  const perChannel = seq;
  const expected = readers.map((_, i) => perChannel[i % o.channels]);
  const result = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, memGb: Math.round(os.totalmem() / 1e9) },
    options: o,
    published,
    publishFailures: publisher.failures,
    readers: {
      count: readers.length,
      complete: readers.filter((r, i) => r.received === expected[i]).length,
      received: readers.reduce((a, r) => a + r.received, 0),
      expected: expected.reduce((a, b) => a + b, 0),
      gaps: readers.reduce((a, r) => a + r.gaps, 0),
      dupes: readers.reduce((a, r) => a + r.dupes, 0),
      reconnects: readers.reduce((a, r) => a + r.reconnects, 0),
    },
    server: {
      idleRssMb: samples[0].rssMb,
      rssAfterOpenMb: openedAt.rssMb,
      rssMinMb: Math.min(...rss),
      rssMaxMb: Math.max(...rss),
      rssFirstMinuteMeanMb: mean(firstMinute),
      rssLastMinuteMeanMb: mean(lastMinute),
      heapMinMb: Math.min(...afterOpen.map((s) => s.heapMb)),
      heapMaxMb: Math.max(...afterOpen.map((s) => s.heapMb)),
      connectionsMin: Math.min(...afterOpen.map((s) => s.connections)),
      perConnectionKb: Math.round(((openedAt.rssMb - samples[0].rssMb) * 1024) / o.connections * 10) / 10,
      drops: final.drops,
      exitCode,
    },
    probes,
    samples,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, JSON.stringify(result, null, 2) + '\n');
  const r = result;
  process.stdout.write(
    [
      `| figure | value |`,
      `| --- | --- |`,
      `| connections held | ${r.readers.count} (${o.channels} channels) for ${o.minutes} min |`,
      `| messages published | ${r.published} at ${o.rate}/s (${r.publishFailures} failed) |`,
      `| messages received / expected | ${r.readers.received} / ${r.readers.expected}; complete readers ${r.readers.complete}/${r.readers.count} |`,
      `| gaps / duplicates | ${r.readers.gaps} / ${r.readers.dupes} |`,
      `| stream recycles + resumes | ${r.readers.reconnects} |`,
      `| server RSS idle → after open | ${r.server.idleRssMb} → ${r.server.rssAfterOpenMb} MB (${r.server.perConnectionKb} KB per connection) |`,
      `| server RSS min / max while held | ${r.server.rssMinMb} / ${r.server.rssMaxMb} MB |`,
      `| server RSS mean, first vs last minute | ${r.server.rssFirstMinuteMeanMb} vs ${r.server.rssLastMinuteMeanMb} MB |`,
      `| server V8 heap used min / max | ${r.server.heapMinMb} / ${r.server.heapMaxMb} MB |`,
      `| fewest connections open at a sample | ${r.server.connectionsMin} |`,
      `| live heap after a full GC, every 30 s (MB) | ${probes.map((p) => p.liveHeapMb).join(', ')} |`,
      `| RSS at those points (MB) | ${probes.map((p) => p.rssMb).join(', ')} |`,
      `| drops by reason | ${JSON.stringify(r.server.drops)} |`,
      `| exit code after SIGTERM | ${r.server.exitCode} |`,
    ].join('\n') + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(String((err as Error)?.stack ?? err) + '\n');
  process.exit(1);
});
