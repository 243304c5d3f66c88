import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ensureBuilt, startCli, type CliServer } from '../helpers/child';
import { freePort, waitForPort } from '../helpers/ports';

/**
 * Code samples of README.md and docs/ run as written. A sample is the fenced block after
 * `<!-- sample: name -->`; every marker must have a runner here, so a marked sample is
 * a tested one. TypeScript samples import from 'pushframe' (the built package in this
 * checkout), are transpiled as ES modules (they use top-level await) and run in a
 * child process with PORT set to a free port.
 */
const ROOT = join(__dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => 'docs/' + f)];
const MARKER = /<!-- sample: ([a-z0-9-]+) -->\n```(\w*)\n([\s\S]*?)\n```/g;

const samples = new Map<string, { file: string; lang: string; code: string }>();
for (const file of DOCS) {
  for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(MARKER)) samples.set(m[1], { file, lang: m[2], code: m[3] });
}

function sample(name: string): string {
  const s = samples.get(name);
  if (!s) throw new Error(`no sample "${name}" in ${DOCS.join(', ')}`);
  return s.code;
}

interface Running {
  url: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];
const dirs: string[] = [];

/** Runs a TypeScript sample as an ES module next to `files`; resolves once it listens on PORT (unless `listens` is false). */
async function runTs(code: string, options: { env?: Record<string, string>; files?: Record<string, string>; listens?: boolean } = {}): Promise<Running> {
  // Inside the checkout, so the sample's own imports (koa, express, nunjucks) resolve from its node_modules.
  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, 'test-output', 'sample-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'pushframe'), 'dir');
  for (const [name, text] of Object.entries(options.files ?? {})) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  writeFileSync(join(dir, 'sample.mjs'), js);
  const port = await freePort();
  const child = spawn(process.execPath, ['sample.mjs'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), PUSHFRAME_LOG_LEVEL: 'silent', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve((exitCode = code))));
  if (options.listens !== false) {
    await waitForPort(port, 15_000, () => (exitCode !== undefined ? `the sample exited (${exitCode}): ${out}` : null));
  }
  return { url: `http://127.0.0.1:${port}`, child, output: () => out, exited };
}

/** Reads an event stream until `test` holds on what arrived; bounded. */
async function readEvents(url: string, test: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const reader = res.body!.getReader();
  let text = '';
  try {
    while (!test(text)) text += new TextDecoder().decode((await reader.read()).value);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text;
}

beforeAll(() => ensureBuilt(), 180_000);
afterAll(() => {
  for (const c of running) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const RUNNERS: Record<string, () => Promise<void>> = {
  async 'readme-koa'() {
    await clockApp(sample('readme-koa'));
  },
  async 'readme-express'() {
    await clockApp(sample('readme-express'));
  },
  async 'embedding-node'() {
    const app = await runTs(sample('embedding-node'));
    const page = await (await fetch(app.url + '/')).text();
    expect(page).toContain('<script src="/pushframe/pushframe.js"></script>');
    expect((await fetch(app.url + '/pushframe/pushframe.js')).status).toBe(200);
    const stats = (await (await fetch(app.url + '/pushframe/stats')).json()) as { messages: { in: number } };
    expect(stats.messages.in).toBe(1); // its publish at start
  },
  async 'security-koa'() {
    const app = await runTs(sample('security-koa'), {
      env: { PUSHFRAME_SECRET: 'a-secret-for-the-sample' },
      files: { 'views/dashboard.njk': sample('security-koa-view') },
    });
    const page = await (await fetch(app.url + '/')).text();
    const src = /<script src="([^"]+)"><\/script>/.exec(page)![1];
    // The bridge the macro points at is served by this app's origin.
    expect(src).toMatch(/^\/pushframe\/pushframe\.[A-Za-z0-9_-]{12}\.js$/);
    expect((await fetch(app.url + src)).status).toBe(200);
    const options = JSON.parse(/Pushframe\.connect\((\{.*\})\);/.exec(page)![1]) as { channels: string[]; token: string; since: string };
    expect(options.channels).toEqual(['users/42/alerts', 'news']);
    const query = (token?: string): string =>
      app.url + '/pushframe/stream?' + new URLSearchParams({ channels: options.channels.join(','), since: options.since, ...(token ? { token } : {}) }).toString();
    const ok = await fetch(query(options.token));
    expect(ok.status).toBe(200);
    await ok.body!.cancel();
    const refused = await fetch(query());
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('bad_grant');
  },
  async 'security-koa-view'() {
    // Rendered by the security-koa sample above.
    expect(sample('security-koa-view')).toContain('pushframe(embed=embed, token=token)');
  },
  async 'embedding-setup'() {
    const app = await runTs(sample('embedding-setup'), { files: { 'views/prices.njk': sample('embedding-setup-view') } });
    // The sample publishes one price after it starts; poll until the page shows it.
    let page = '';
    for (let i = 0; i < 100 && !page.includes('<tr id="p-AEX">'); i++) {
      page = await (await fetch(app.url + '/')).text();
      if (!page.includes('<tr id="p-AEX">')) await new Promise((r) => setTimeout(r, 50));
    }
    expect(page).toContain('<tr id="p-AEX"><td>AEX</td><td class="v">912.4</td></tr>');
    const src = /<script src="([^"]+)"><\/script>/.exec(page)![1];
    expect((await fetch(app.url + src)).status).toBe(200);
    const options = JSON.parse(/Pushframe\.connect\((\{.*\})\);/.exec(page)![1]) as { channels: string[]; target: string };
    expect(options).toMatchObject({ channels: ['prices/*'], target: 'prices' });
  },
  async 'embedding-setup-view'() {
    // Rendered by the embedding-setup sample above.
    expect(sample('embedding-setup-view')).toContain("pushframe(embed=embed, target='prices')");
  },
  async 'readme-in-process'() {
    const app = await runTs(sample('readme-in-process'), { listens: false });
    expect(await app.exited).toBe(0);
  },
  async 'readme-curl-stream'() {
    await curlSamples();
  },
  async 'readme-curl-publish'() {
    await curlSamples();
  },
  async 'readme-curl-output'() {
    await curlSamples();
  },
};

/** Koa and Express "add it to your app" samples: the page, the bridge and the clock channel. */
async function clockApp(code: string): Promise<void> {
  const app = await runTs(code);
  const page = await fetch(app.url + '/');
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect(await page.text()).toContain('<script src="/pushframe/pushframe.js"></script>');
  expect((await fetch(app.url + '/pushframe/pushframe.js')).status).toBe(200);
  const text = await readEvents(app.url + '/pushframe/events?channels=clock', (t) => /"time":"\d{4}-/.test(t));
  expect(text).toMatch(/data: .*"time"/);
}

let curlRun: Promise<void> | null = null;
/** The README's two terminals against `npm start`'s server (its defaults; port changed). */
function curlSamples(): Promise<void> {
  curlRun ??= (async () => {
    let server: CliServer | null = null;
    let stream: ChildProcess | null = null;
    try {
      // startCli turns the stats sampler off for quiet tests; the README describes the default.
      server = await startCli({ PUSHFRAME_STATS_INTERVAL_MS: '1000', PUSHFRAME_DEMO: 'true' });
      const port = new URL(server.url).port;
      const local = (cmd: string): string[] => {
        const words = cmd.replace(/localhost:8080/g, `127.0.0.1:${port}`).match(/'[^']*'|\S+/g)!;
        return words.map((w) => (w.startsWith("'") ? w.slice(1, -1) : w));
      };
      await new Promise((r) => setTimeout(r, 1500)); // let the server publish a sample or two
      const streamCmd = local(sample('readme-curl-stream'));
      expect(streamCmd[0]).toBe('curl');
      stream = spawn(streamCmd[0], streamCmd.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
      let streamed = '';
      stream.stdout!.on('data', (d: Buffer) => (streamed += d));
      const deadline = Date.now() + 10_000;
      while (!streamed.includes('p.o(') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      const publishCmd = local(sample('readme-curl-publish'));
      const published = await new Promise<string>((resolve, reject) => {
        const p = spawn(publishCmd[0], publishCmd.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        p.stdout!.on('data', (d: Buffer) => (out += d));
        p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error('curl exited ' + code))));
      });
      const { id } = JSON.parse(published) as { id: string };
      const expected = sample('readme-curl-output').replace(/"demo","\d+"/, `"demo","${id}"`);
      expect(expected).not.toBe(sample('readme-curl-output')); // the README's id is only an example of one
      while (!streamed.includes(expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(streamed).toContain(expected);
      // As the README explains: the server's own _sys/stats samples took ids first.
      expect(Number(id)).toBeGreaterThan(1);
    } finally {
      stream?.kill('SIGKILL');
      server?.child.kill('SIGKILL');
    }
  })();
  return curlRun;
}

describe('samples in README.md and docs/', () => {
  it('every marked sample has a runner, and every runner a sample', () => {
    expect([...samples.keys()].sort()).toEqual(Object.keys(RUNNERS).sort());
  });

  it.each(Object.keys(RUNNERS))('%s runs as written', async (name) => {
    await RUNNERS[name]();
  }, 60_000);
});
