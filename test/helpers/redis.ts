import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { canConnect, freePort } from './ports';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** A redis-server the tests start themselves: loopback, ephemeral port, no persistence. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL: no goodbye to clients) and waits until the port is closed. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (nothing is persisted). */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 5000;
const PORT_ATTEMPTS = 10;

/** Runs redis-server on `port`; resolves when it accepts connections, rejects if it exits first. */
function launch(port: number, dir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${port} ${why}: ${output.trim().slice(-500)}`));
    };
    child.once('exit', (code) => fail(`exited with ${code}`));
    child.once('error', (err) => fail(err.message));
    const deadline = Date.now() + START_TIMEOUT_MS;
    const poll = async () => {
      while (!settled && Date.now() < deadline) {
        if (await canConnect(port)) {
          settled = true;
          child.removeAllListeners('exit');
          resolve(child);
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      fail('did not accept connections in time');
    };
    void poll();
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedis(): Promise<TestRedis> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: install the Debian package "redis-server" (apt-get install redis-server)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'pushframe-redis-'));
  let child: ChildProcess | null = null;
  let port = 0;
  let lastError: unknown;
  // Another process may take the free port between our probe and redis-server's bind.
  for (let attempt = 0; attempt < PORT_ATTEMPTS && !child; attempt++) {
    try {
      port = await freePort();
      child = await launch(port, dir);
    } catch (err) {
      lastError = err;
    }
  }
  if (!child) {
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }
  let current: ChildProcess | null = child;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      if (!current) return;
      const dying = current;
      current = null;
      dying.kill('SIGKILL');
      await exited(dying);
    },
    async start() {
      if (current) return;
      for (let attempt = 1; ; attempt++) {
        try {
          current = await launch(port, dir);
          return;
        } catch (err) {
          if (attempt >= 3) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async stop() {
      if (current) {
        const dying = current;
        current = null;
        dying.kill('SIGTERM');
        await exited(dying);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
