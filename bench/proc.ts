/** A server under test in its own process, and what Linux tells about that process. */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command, Reply } from './control';

export type ServerKind = 'pushframe' | 'baseline';

const ENTRY: Record<ServerKind, string> = {
  pushframe: 'server.js',
  baseline: 'baseline-server.js',
};

export class ServerProcess {
  private waiting: { op: Reply['op']; resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  readonly errors: string[] = [];
  private exited: Promise<void>;

  private constructor(
    readonly kind: ServerKind,
    private readonly child: ChildProcess,
    /** Where --cpu-prof writes this server's profile, or null without --profile. */
    readonly profilePath: string | null,
  ) {
    child.on('message', (raw) => this.onReply(raw as Reply));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`${kind} server exited (code ${code}, signal ${signal})`));
    });
  }

  /** `cpus`: a taskset CPU list to pin the server to, or null to let the scheduler place it. */
  static async start(
    kind: ServerKind,
    profileDir: string | null,
    cpus: string | null,
    env: Record<string, string> = {},
    nodeFlags: readonly string[] = [],
  ): Promise<{ server: ServerProcess; port: number; path: string }> {
    const execArgv = ['--expose-gc', ...nodeFlags];
    const profileName = `${kind}-${Date.now()}.cpuprofile`;
    // Sampled every 100 us (V8's default is 1 ms): an opening takes a few hundred.
    if (profileDir) execArgv.push('--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', profileDir, '--cpu-prof-name', profileName);
    const entry = path.join(__dirname, ENTRY[kind]);
    const stdio: ['ignore', 'inherit', 'inherit', 'ipc'] = ['ignore', 'inherit', 'inherit', 'ipc'];
    // taskset execs node in place, so the IPC channel fork would set up is inherited as is.
    const childEnv = { ...process.env, ...env };
    const child =
      cpus === null
        ? fork(entry, [], { execArgv, stdio, env: childEnv })
        : spawn('taskset', ['-c', cpus, process.execPath, ...execArgv, entry], { stdio, env: childEnv });
    const server = new ServerProcess(kind, child, profileDir === null ? null : path.join(profileDir, profileName));
    const ready = await server.next('ready', 20_000);
    if (ready.op !== 'ready') throw new Error('unexpected reply');
    return { server, port: ready.port, path: ready.path };
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Sends a command and waits for the reply of the given kind. */
  request(cmd: Command, op: Reply['op'], timeoutMs: number): Promise<Reply> {
    const reply = this.next(op, timeoutMs);
    this.child.send(cmd);
    return reply;
  }

  next(op: Reply['op'], timeoutMs: number): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.kind} server: no "${op}" reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push({
        op,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Asks the server to close and exit (so a CPU profile gets written); kills it after a grace period. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.send({ op: 'stop' } satisfies Command);
    const grace = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000).unref());
    const done = await Promise.race([this.exited.then(() => true), grace]);
    if (!done) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  private onReply(reply: Reply): void {
    if (reply.op === 'error') {
      this.errors.push(reply.message);
      const w = this.waiting.shift();
      w?.reject(new Error(`${this.kind} server: ${reply.message}`));
      return;
    }
    const i = this.waiting.findIndex((w) => w.op === reply.op);
    if (i !== -1) this.waiting.splice(i, 1)[0].resolve(reply);
  }
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
export function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => {
    const m = new RegExp('^' + name + ':\\s+(\\d+) kB', 'm').exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/**
 * User + system CPU time of process `pid` (every thread), or of one of its threads, in microseconds
 * (10 ms resolution). The main thread's id is the process id; the others are V8's
 * compiler and collector helpers and libuv's pool.
 */
export function cpuMicrosOf(pid: number, thread?: number): number {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / 100;
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
export function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  // idle and iowait are the only not-busy columns.
  return { busy: total - v[3] - (v[4] ?? 0), total };
}

/** Loopback connections in TIME_WAIT (this network namespace), from /proc/net/sockstat; NaN if unreadable. */
export function timeWaitSockets(): number {
  try {
    const m = /^TCP:.* tw (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Pins this process to a CPU list; false when taskset is missing or refuses. */
export function pinSelf(cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Raises this process's open-file limit (soft and hard) to at least `wanted` with
 * prlimit (util-linux; needs the privilege to raise a hard limit), so that the server
 * children forked later inherit it too; returns the soft limit in force afterwards.
 */
export function raiseOpenFileLimit(wanted: number): number {
  if (openFileLimit() >= wanted) return openFileLimit();
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${wanted}:${wanted}`], { stdio: 'ignore' });
  } catch {
    // Not allowed or not installed: the caller reports the limit as it is.
  }
  return openFileLimit();
}

/** The soft limit on open files of this process (the server child inherits it). */
export function openFileLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!m) return Infinity;
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

export interface Machine {
  nproc: number;
  cpu: string;
  memTotalGiB: number;
  node: string;
  kernel: string;
}

export function machine(): Machine {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1];
  } catch {
    // Not Linux: os.cpus() is the best there is.
  }
  return { nproc: os.availableParallelism(), cpu, memTotalGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10, node: process.version, kernel: os.release() };
}
