import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

function builtAt(): number {
  try {
    return statSync(CLI).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Compiles src/ to dist/ when dist is older than the sources. Test files run in parallel
 * workers: a directory lock keeps two compilers from writing dist at once.
 */
export async function ensureBuilt(): Promise<void> {
  const lock = join(ROOT, 'dist', '.build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('waited 120 s for another build of dist/');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (builtAt() > newest(join(ROOT, 'src'))) return;
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error('tsc failed:\n' + r.stdout + r.stderr);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CliServer {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote, for assertions and failure messages. */
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/**
 * Runs `node dist/src/cli.js` on 127.0.0.1:0 and waits for the `url` in its JSON log line.
 * An `env` value of undefined removes that variable (e.g. the default PUSHFRAME_DEMO=false).
 * With `openFiles`, bash lowers the descriptor limit and then becomes node (exec): the pid
 * is the server's.
 */
export function startCli(
  env: Record<string, string | undefined>,
  args: string[] = [],
  timeoutMs = 10_000,
  openFiles?: number,
): Promise<CliServer> {
  const [cmd, argv] =
    openFiles === undefined
      ? [process.execPath, [CLI, ...args]]
      : ['bash', ['-c', `ulimit -n ${openFiles} && exec "$0" "$@"`, process.execPath, CLI, ...args]];
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', PUSHFRAME_DEMO: 'false', PUSHFRAME_STATS_INTERVAL_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the CLI did not log its url within ${timeoutMs} ms; stdout: ${out} stderr: ${err}`));
    }, timeoutMs);
    child.stdout.on('data', (c: string) => {
      out += c;
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        let rec: { url?: unknown };
        try {
          rec = JSON.parse(line) as { url?: unknown };
        } catch {
          continue;
        }
        if (typeof rec.url === 'string') {
          clearTimeout(timer);
          resolve({ child, url: rec.url, stdout: () => out, stderr: () => err, exited });
          return;
        }
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`the CLI exited (${code}) before listening; stderr: ${err}`));
    });
  });
}

/**
 * Runs the built server (`startServer` from dist/) in a process of its own with `options`,
 * after publishing `seed` messages through its hub: history that would take minutes to
 * send over HTTP. Resolves with the url once it listens.
 */
export function startSeededServer(
  options: Record<string, unknown>,
  seed: { channels: number; prefix: string },
  timeoutMs = 30_000,
): Promise<{ child: ChildProcess; url: string }> {
  const script = `
    const { startServer } = require(${JSON.stringify(join(ROOT, 'dist', 'src', 'server.js'))});
    (async () => {
      const server = await startServer(${JSON.stringify({ port: 0, host: '127.0.0.1', logLevel: 'silent', statsIntervalMs: 0, demo: false, ...options })});
      for (let i = 0; i < ${seed.channels}; i++) await server.hub.publish(${JSON.stringify(seed.prefix)} + i, i);
      process.stdout.write(JSON.stringify({ url: server.url }) + '\\n');
    })().catch((err) => { console.error(err); process.exit(1); });
  `;
  const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (err += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the seeded server did not start within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.stdout.on('data', (c: string) => {
      out += c;
      const line = out.split('\n').find((l) => l.startsWith('{"url"'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, url: (JSON.parse(line) as { url: string }).url });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the seeded server exited (${code}): ${err}`));
    });
  });
}
