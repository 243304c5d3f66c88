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
 */
export function startCli(env: Record<string, string | undefined>, args: string[] = [], timeoutMs = 10_000): Promise<CliServer> {
  const child = spawn(process.execPath, [CLI, ...args], {
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
