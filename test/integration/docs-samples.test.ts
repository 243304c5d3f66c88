import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JSDOM } from 'jsdom';
import nunjucks from 'nunjucks';
import ts from 'typescript';
import { embedContext, grant, startServer, usePushframeViews, verifyGrant, type Hub, type PushframeServer } from '../../src';
import { loadBridge, streamParams } from '../helpers/bridge';
import { launchChromium, waitInPage, type TestBrowser, type TestPage } from '../helpers/browsers';
import { CLI, ensureBuilt, startCli, type CliServer } from '../helpers/child';
import { documentedNginxBlocks, startNginxConf } from '../helpers/documented-nginx';
import { freePort, waitForPort } from '../helpers/ports';
import { startRedis } from '../helpers/redis';

/**
 * Code samples of README.md and docs/ run as written. A sample is the fenced block after
 * `<!-- sample: name -->`; every marker must have a runner here, so a marked sample is
 * a tested one. TypeScript samples import from 'pushframe' (the built package in this
 * checkout), are transpiled as ES modules (they use top-level await) and run in a
 * child process with PORT set to a free port.
 */
const ROOT = join(__dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => 'docs/' + f)];
// A marker and its block may be indented alike (a block inside a list item).
const MARKER = /^( *)<!-- sample: ([a-z0-9-]+) -->\n\1```(\w*)\n([\s\S]*?)\n\1```$/gm;

const samples = new Map<string, { file: string; lang: string; code: string }>();
for (const file of DOCS) {
  for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(MARKER)) {
    const code = m[4].split('\n').map((line) => line.slice(m[1].length)).join('\n');
    samples.set(m[2], { file, lang: m[3], code });
  }
}

/**
 * Fenced blocks that are not samples, each with the reason. Keep this short: a block
 * belongs here only when another test already runs exactly it.
 */
const NOT_SAMPLES: { file: string; first: string; reason: string }[] = [
  { file: 'README.md', first: 'npm test', reason: 'the suite itself; test/unit/readme.test.ts checks that .ci/run runs exactly it' },
  { file: 'docs/scaling.md', first: 'upstream pushframe {', reason: 'loaded by nginx through test/helpers/documented-nginx.ts (nginx-proxy, rolling-restart tests)' },
  { file: 'docs/scaling.md', first: 'server {', reason: 'the TLS server block, loaded by nginx through test/helpers/documented-nginx.ts (http2 browser suite)' },
];

/** Every fenced block of the docs: its file, line, first line and whether a marker precedes it. */
function fencedBlocks(): { file: string; line: number; first: string; marked: boolean }[] {
  const out: { file: string; line: number; first: string; marked: boolean }[] = [];
  for (const file of DOCS) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^( *)```/.exec(lines[i]);
      if (!open) continue;
      const close = lines.findIndex((l, j) => j > i && l === open[1] + '```');
      if (close < 0) throw new Error(`${file}:${i + 1}: a fenced block that is never closed`);
      out.push({ file, line: i + 1, first: lines[i + 1].trim(), marked: /^ *<!-- sample: [a-z0-9-]+ -->$/.test(lines[i - 1] ?? '') });
      i = close;
    }
  }
  return out;
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

/**
 * The two runs that wait for a heartbeat (the default 4 s of silence) start with the
 * file and are awaited by their tests, so their waiting overlaps the other samples.
 */
const slow: { sseStream?: Promise<void>; frames?: Promise<void> } = {};
beforeAll(async () => {
  await ensureBuilt();
  slow.sseStream = sseStreamSample();
  slow.frames = protocolFrames();
  // Awaited by their tests; marked handled so that an early failure is reported there.
  for (const p of [slow.sseStream, slow.frames]) p.catch(() => undefined);
}, 180_000);
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

// ---------------------------------------------------------------------------------------
// Servers, a browser and helpers shared by the samples below: one of each for the file.

let shared: Promise<{ server: PushframeServer; pages: Map<string, string> }> | null = null;
/** pushframe with its DEFAULT settings (only address and log level chosen), also serving sample pages at /sample/<name>. */
function pageServer(): Promise<{ server: PushframeServer; pages: Map<string, string> }> {
  shared ??= samplePageServer({});
  return shared;
}

let named: Promise<{ server: PushframeServer; pages: Map<string, string> }> | null = null;
/** The same, answering to www.example.com as well (a deployment on that name lists it). */
function exampleComServer(): Promise<{ server: PushframeServer; pages: Map<string, string> }> {
  named ??= samplePageServer({ allowedHosts: ['www.example.com'] });
  return named;
}

function samplePageServer(options: { allowedHosts?: string[] }): Promise<{ server: PushframeServer; pages: Map<string, string> }> {
  return (async () => {
    const pages = new Map<string, string>();
    const server = await startServer({
      ...options,
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      setup(app) {
        app.use(async (ctx, next) => {
          const html = pages.get(ctx.path);
          if (html === undefined) return next();
          ctx.type = 'text/html; charset=utf-8';
          ctx.body = html;
        });
      },
    });
    closers.push(() => server.close());
    return { server, pages };
  })();
}

let chromium: Promise<TestBrowser> | null = null;
function browser(): Promise<TestBrowser> {
  // example.com names reach loopback, for the sample whose documentDomain needs them.
  chromium ??= launchChromium(['--host-resolver-rules=MAP *.example.com 127.0.0.1']).then((b) => {
    closers.push(() => b.close());
    return b;
  });
  return chromium;
}

const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
}, 30_000);

/** A page around `body`: script errors are recorded, and so is what the bridge dispatches on `document`. */
function pageAround(body: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>sample</title>
<script>window.__errors = []; window.onerror = function (m) { window.__errors.push(String(m)); };</script>
</head><body>
${body}
<script>
  window.__got = []; window.__open = 0;
  document.addEventListener('pushframe:message', function (e) { window.__got.push(e.detail); }, false);
  document.addEventListener('pushframe:open', function () { window.__open++; }, false);
</script>
</body></html>`;
}

/**
 * Serves `html` from the shared server, loads it in Chromium (after `load`, as a visitor
 * would), waits for the stream, publishes `data` on `channel` through `hub` and waits
 * until the page has it. Returns the page for further checks; the caller closes it.
 */
async function inChromium(name: string, html: string, hub: Hub, channel: string, data: unknown): Promise<TestPage> {
  const { server, pages } = await pageServer();
  pages.set('/sample/' + name, html);
  const page = await (await browser()).newPage();
  try {
    await page.goto(server.url + '/sample/' + name);
    await waitInPage(page, 'window.__open >= 1', `the stream of sample ${name} to open`, 15_000);
    const id = await hub.publish(channel, data);
    await waitInPage(page, `window.__got.some(function (d) { return d.id === ${JSON.stringify(id)}; })`, `the message in sample ${name}`, 10_000);
    const got = await page.evaluate<{ channel: string; id: string; data: unknown }[]>('window.__got');
    expect(got.find((d) => d.id === id)).toEqual({ channel, id, data });
    expect(await page.evaluate('window.__errors')).toEqual([]);
    return page;
  } catch (err) {
    await page.close();
    throw err;
  }
}

/** A second pushframe, on another origin (`localhost` rather than 127.0.0.1) that allows the shared server's pages. */
let other: Promise<PushframeServer> | null = null;
function otherOrigin(): Promise<PushframeServer> {
  other ??= (async () => {
    const { server } = await pageServer();
    const push = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', allowedOrigins: [server.url] });
    closers.push(() => push.close());
    return push;
  })();
  return other;
}

/** Cursors and ids vary from run to run; the shape around them must not. */
function wireShape(text: string): string {
  return text
    .replace(/[A-Za-z0-9]+~\d+(,[^"\s,@]+@\d+)*/g, '<cursor>')
    .replace(/"id":"\d+"/g, '"id":"<id>"')
    .replace(/"stream":"[A-Za-z0-9_-]{22}"/g, '"stream":"<token>"')
    .replace(/\["([^"]+)","\d+",/g, '["$1","<id>",');
}

/** Runs `args` (a command line as the docs write it, words split, quotes removed) and resolves with its stdout. */
function runCommand(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(args[0], args.slice(1), { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d));
    p.stderr!.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), options.timeoutMs ?? 10_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A documented command line pointed at `base` (`http://127.0.0.1:port`) instead of localhost:8080, split into words. */
function commandFor(line: string, base: string): string[] {
  const words = line.replace(/http:\/\/localhost:8080|localhost:8080/g, base).match(/'[^']*'|\S+/g)!;
  return words.map((w) => (w.startsWith("'") ? w.slice(1, -1) : w));
}

/** A directory with a `pushframe` command (the built CLI), as `npm install -g` or `npx` would provide. */
let binDir: string | null = null;
function pushframeBin(): string {
  if (binDir) return binDir;
  binDir = mkdtempSync(join(tmpdir(), 'pushframe-bin-'));
  dirs.push(binDir);
  writeFileSync(join(binDir, 'pushframe'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
  return binDir;
}

/** Reads a response body until `test` holds; bounded. */
async function readUntil(res: Response, test: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const reader = res.body!.getReader();
  let text = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (!test(text)) {
      if (Date.now() > deadline) throw new Error('timed out; read so far: ' + text.slice(-500));
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text;
}

/** Reads a response body on demand: `until(what)` reads until the text holds `what`; bounded. */
function textReader(res: Response, what = 'the stream'): { until(part: string, ms?: number): Promise<string>; cancel(): Promise<void> } {
  const reader = res.body!.getReader();
  let text = '';
  return {
    async until(part, ms = 10_000) {
      for (const deadline = Date.now() + ms; !text.includes(part); ) {
        if (Date.now() > deadline) throw new Error(`no ${part} in ${what}: ${text.slice(-300)}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`${what} ended: ${text.slice(-300)}`);
        text += new TextDecoder().decode(value);
      }
      return text;
    },
    cancel: () => reader.cancel().catch(() => undefined),
  };
}

/** The type skeleton of a JSON value: which keys, and what kind of value under each. */
function skeleton(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.length ? [skeleton(v[0])] : [];
  if (v && typeof v === 'object') {
    // A map keyed by transport name: which transports appear depends on who is connected.
    if (key === 'byTransport') return Object.values(v).every((x) => typeof x === 'number') ? 'map of numbers' : v;
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, skeleton((v as Record<string, unknown>)[k], k)]));
  }
  return typeof v;
}

/** A real event stream, from ready to reconnect, compared event by event with the one the doc shows. */
async function sseStreamSample(): Promise<void> {
  const push = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
  let closed = false;
  try {
    const res = await fetch(push.url + '/pushframe/events?channels=stocks/*&since=zz~1');
    const reader = res.body!.getReader();
    let text = '';
    const readTill = async (what: RegExp, ms: number): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!what.test(text)) {
        if (Date.now() > deadline) throw new Error(`no ${what} in ${text.slice(-400)}`);
        const { value, done } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    };
    await readTill(/event: ready/, 5000);
    await push.hub.publish('stocks/aex', { p: 12.5 });
    await readTill(/"channel":"stocks\/aex"/, 5000);
    // The heartbeat comes after the default 4 s of silence.
    await readTill(/\n\nevent: heartbeat\ndata: \{\}\n\n$/, 8000);
    const done = push.close();
    closed = true;
    await readTill(/event: reconnect\ndata: \d+\n\n$/, 5000);
    await done;
    const padding = /\n:( +)\n/.exec(text)![1].length;
    expect(padding).toBeGreaterThanOrEqual(2000);
    expect(padding).toBeLessThanOrEqual(2100);
    const blocks = (t: string): string[] =>
      [...new Set(wireShape(t.replace(/\n: {100,}\n/, '\n:<padding>\n').replace(/\n:<2 KiB of padding[^>]*>\n/, '\n:<padding>\n')).split('\n\n'))]
        .filter((b) => b !== '')
        .sort();
    expect(blocks(text)).toEqual(blocks(sample('fallbacks-sse-stream') + '\n\n'));
  } finally {
    if (!closed) await push.close();
  }
}

/** A real long-poll answer and its JSONP form, compared with the two the doc shows (one run for both samples). */
async function pollAnswerSamples(): Promise<void> {
  const push = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
  try {
    const base = push.url + '/pushframe/poll?channels=stocks/*';
    const { cursor } = (await (await fetch(base)).json()) as { cursor: string };
    const held = fetch(base + '&since=' + encodeURIComponent(cursor)).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 100));
    await push.hub.publish('stocks/aex', { p: 12.5 });
    expect(wireShape(await held)).toBe(wireShape(sample('fallbacks-poll-answer')));
    // The JSONP form of the same answer.
    const jsonp = await (await fetch(base + '&callback=Pushframe._poll.f3_k2j4_7&since=' + encodeURIComponent(cursor))).text();
    const elided = jsonp.replace(/"cursor":"[^"]*"/, '"cursor":"…"').replace(/"messages":\[.*\],"resets"/, '"messages":[…],"resets"');
    expect(elided).toBe(sample('fallbacks-jsonp-answer'));
  } finally {
    await push.close();
  }
}
let pollAnswers: Promise<void> | null = null;

/**
 * The environment of `npm start` here: loopback only, and no `prestart` build. The build
 * it would run (tsc into dist/, the bridge) is done once before the tests (ensureBuilt,
 * the global setup); several servers compiling dist/ at once, under the feet of the
 * other test files, would only race.
 */
const NPM_START_ENV = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', npm_config_ignore_scripts: 'true', PUSHFRAME_LOG_LEVEL: 'warn' };

Object.assign(RUNNERS, {
  async 'readme-npm-start'() {
    // `npm install` already ran for this checkout; `npm start` is run here as written.
    const [install, start] = sample('readme-npm-start').split(' && ');
    expect(install).toBe('npm install');
    const port = await freePort();
    const child = spawn('sh', ['-c', start], { cwd: ROOT, env: { ...NPM_START_ENV, PORT: String(port) }, stdio: 'ignore', detached: true });
    running.push(child);
    try {
      await waitForPort(port, 20_000);
      // The demo dashboard, as the README says.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('pushframe');
    } finally {
      process.kill(-child.pid!, 'SIGKILL');
    }
  },
  async 'readme-lts-node'() {
    // As written, then the Node that the shell now finds first.
    const script = sample('readme-lts-node') + '\nnode -p process.versions.node';
    const run = await runCommand(['bash', '-c', script], { env: { HOME: process.env.HOME ?? '' }, timeoutMs: 50_000 });
    expect(run).toMatchObject({ code: 0 });
    expect(Number(run.stdout.trim().split('.')[0])).toBeGreaterThanOrEqual(24);
  },
  async 'readme-embed'() {
    const { server } = await pageServer();
    await (await inChromium('readme-embed', pageAround(sample('readme-embed')), server.hub, 'alerts/fire', { level: 3 })).close();
  },
  async 'readme-macro'() {
    const { server } = await pageServer();
    const env = usePushframeViews(new nunjucks.Environment(null, { autoescape: true }));
    const embed = await embedContext(server.hub, ['prices/*']);
    // Published after the render and before the page connects: the rendered cursor brings it.
    const html = env.renderString(sample('readme-macro'), { embed });
    const early = await server.hub.publish('prices/aex', { price: 912.4 });
    const page = await inChromium('readme-macro', pageAround(html), server.hub, 'prices/aex', { price: 912.5 });
    try {
      expect((await page.evaluate<{ id: string }[]>('window.__got')).map((d) => d.id)[0]).toBe(early);
    } finally {
      await page.close();
    }
  },
  async 'readme-layout'() {
    const paths = sample('readme-layout')
      .split('\n')
      .filter((l) => /^\S/.test(l))
      .map((l) => l.split(/\s+/)[0]);
    expect(paths.length).toBeGreaterThan(10);
    for (const p of paths) expect([p, existsSync(join(ROOT, p))]).toEqual([p, true]);
  },
  async 'bridge-embed'() {
    const { server } = await pageServer();
    await (await inChromium('bridge-embed', pageAround(sample('bridge-embed')), server.hub, 'stocks/aex', { price: 812.4 })).close();
  },
  async 'bridge-listen-dom'() {
    // The listener of the sample, after the embedding it follows; its comment shows e.detail.
    const { server } = await pageServer();
    const html = pageAround(`${sample('bridge-embed')}\n<script>\n${sample('bridge-listen-dom')}\n</script>`);
    const shown = /e\.detail = (\{.*\})/.exec(sample('bridge-listen-dom'))![1];
    const detail = new Function(`return ${shown};`)() as { channel: string; data: unknown };
    await (await inChromium('bridge-listen-dom', html, server.hub, detail.channel, detail.data)).close();
  },
  async 'bridge-listen-any'() {
    const { server } = await pageServer();
    const html = pageAround(
      `${sample('bridge-embed')}\n<script>\nwindow.__seen = [];\n${sample('bridge-listen-any').replace('/* e.detail as above */', 'window.__seen.push(e.detail);')}\n</script>`,
    );
    const page = await inChromium('bridge-listen-any', html, server.hub, 'stocks/aex', { price: 812.5 });
    try {
      expect(await page.evaluate('window.__seen')).toEqual(await page.evaluate('window.__got'));
    } finally {
      await page.close();
    }
  },
  async 'bridge-api'() {
    // Every option with the value shown (the numbers are the bridge's defaults). Its
    // documentDomain must be a parent of the page's host: the page is on www.example.com.
    const { server, pages } = await exampleComServer();
    const html = pageAround(
      `<div id="ticker"></div>\n<script src="/pushframe/pushframe.js"></script>\n<script>\n${sample('bridge-api')}\n` +
        `window.__c = []; window.__e = []; c.listen('error', function (e) { window.__e.push(e.detail || e); }); c.listen('open', function () { window.__open++; }); c.on('b/*', function (data, meta) { window.__c.push([data, meta]); });\n</script>`,
    );
    pages.set('/sample/bridge-api', html);
    const page = await (await browser()).newPage();
    try {
      await page.goto(server.url.replace('127.0.0.1', 'www.example.com') + '/sample/bridge-api');
      await waitInPage(page, 'window.__open >= 1', 'the stream to open', 15_000).catch(async (err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(await page.evaluate('[window.__e, window.__errors]'))}`);
      });
      const id = await server.hub.publish('b/x', { n: 1 });
      await waitInPage(page, 'window.__c.length >= 1', 'the message on b/x', 10_000);
      expect(await page.evaluate('window.__c')).toEqual([[{ n: 1 }, { channel: 'b/x', id }]]);
      expect(await page.evaluate('window.__errors')).toEqual([]);
    } finally {
      await page.close();
    }
  },
  async 'bridge-cross-origin'() {
    const push = await otherOrigin();
    const html = pageAround(sample('bridge-cross-origin').replace(/https:\/\/push\.example\.com/g, push.url.replace('127.0.0.1', 'localhost')));
    await (await inChromium('bridge-cross-origin', html, push.hub, 'news', { title: 'from the other origin' })).close();
  },
  async 'bridge-document-domain'() {
    // Chromium ignores document.domain (as the doc says), so the legacy path runs in a page
    // on a subdomain in jsdom: the bridge relaxes the page and asks the stream to follow.
    const dom = new JSDOM('<!DOCTYPE html><body></body>', { url: 'http://www.example.com/', runScripts: 'dangerously' });
    try {
      const pf = loadBridge(dom.window as unknown as Window);
      (dom.window as unknown as { eval(code: string): unknown }).eval(sample('bridge-document-domain'));
      let iframe: HTMLIFrameElement | undefined;
      for (let i = 0; i < 200 && !iframe; i++) {
        iframe = dom.window.document.getElementsByTagName('iframe')[0];
        if (!iframe) await new Promise((r) => setTimeout(r, 10));
      }
      const q = streamParams(iframe!);
      expect(iframe!.src.startsWith('http://push.example.com/pushframe/stream?')).toBe(true);
      expect([q.channels, q.d, q.origin]).toEqual(['news', 'example.com', undefined]);
      expect(dom.window.document.domain).toBe('example.com');
      expect(pf._frame(q.f)).not.toBeNull();
    } finally {
      dom.window.close();
    }
  },
  async 'dashboards-stats'() {
    const { server } = await pageServer();
    // The default sampler publishes every second.
    const res = await fetch(server.url + '/pushframe/events?channels=_sys/stats');
    const text = await readUntil(res, (t) => /\ndata: \{"channel":"_sys\/stats","id"/.test(t), 5000);
    const real = (JSON.parse(/\ndata: (\{"channel":"_sys\/stats".*)\n/.exec(text)![1]) as { data: Record<string, unknown> }).data;
    const shown = JSON.parse(sample('dashboards-stats')) as Record<string, unknown>;
    expect(skeleton(real)).toEqual(skeleton(shown));
    expect(real.node).toBe(shown.node);
  },
  async 'embedding-macro'() {
    const { server } = await pageServer();
    const env = usePushframeViews(new nunjucks.Environment(null, { autoescape: true }));
    const embed = await embedContext(server.hub, ['demo/**']);
    const html = env.renderString(sample('embedding-macro'), { embed, cursor: embed.cursor, grant: 'g1.e30.sig' });
    const calls = [...html.matchAll(/var (\w+) = Pushframe\.connect\((\{.*\})\);/g)].map((m) => [m[1], JSON.parse(m[2])]);
    expect(calls).toEqual([
      ['pf', { url: '/pushframe', channels: ['demo/**'], since: embed.cursor, token: null, target: 'dashboard', transports: null, params: null, nonce: null }],
      ['live', { url: '/pushframe', channels: ['news', 'stocks/*'], since: embed.cursor, token: 'g1.e30.sig', target: 'ticker', transports: ['iframe'], params: { lang: 'nl' }, nonce: null }],
    ]);
    expect(html.match(/<script src=/g)).toHaveLength(1); // script=false: no second bridge
  },
  async 'embedding-macro-output'() {
    const { server } = await pageServer();
    const env = usePushframeViews(new nunjucks.Environment(null, { autoescape: true }));
    // The macro's first call, with the embed the output shows.
    const call = sample('embedding-macro').split('\n').slice(0, 2).join('\n');
    const html = env.renderString(call, { embed: { url: '/pushframe', channels: ['demo/**'], cursor: 'a1b2~42' } }).trim();
    const version = /pushframe\.([A-Za-z0-9_-]{12})\.js/.exec(html)![1];
    expect(html).toBe(sample('embedding-macro-output').replace(/pushframe\.[A-Za-z0-9_-]{12}\.js/, `pushframe.${version}.js`));
    expect((await fetch(`${server.url}/pushframe/pushframe.${version}.js`)).status).toBe(200);
  },
  async 'embedding-plain-page'() {
    const { server } = await pageServer();
    const page = await inChromium('embedding-plain-page', pageAround(sample('embedding-plain-page')), server.hub, 'news', { title: 'Hello <b>world</b>' });
    try {
      expect(await page.evaluate("document.getElementById('news').innerHTML")).toBe('<li>Hello &lt;b&gt;world&lt;/b&gt;</li>');
    } finally {
      await page.close();
    }
  },
  async 'embedding-cross-origin'() {
    const push = await otherOrigin();
    const html = pageAround(sample('embedding-cross-origin').replace(/https:\/\/push\.example\.com/g, push.url.replace('127.0.0.1', 'localhost')));
    await (await inChromium('embedding-cross-origin', html, push.hub, 'news', { title: 'across origins' })).close();
  },
  async 'fallbacks-poll-request'() {
    const { server } = await pageServer();
    const position = (await (await fetch(server.url + '/pushframe/poll?channels=news,stocks/*')).json()) as { cursor: string };
    // A stream the client gave up on: its token is in its ready event.
    const given = await fetch(server.url + '/pushframe/events?channels=news');
    const ready = await readUntil(given, (t) => /"stream":"[^"]+"/.test(t));
    const token = /"stream":"([^"]+)"/.exec(ready)![1];
    const replacedBefore = server.stats().drops.replaced ?? 0;
    const line = sample('fallbacks-poll-request');
    expect(line).toMatch(/^GET /);
    const path = line
      .slice(4)
      .replace('<p1>,<p2>', 'news,stocks/*')
      .replace('<cursor>', encodeURIComponent(position.cursor))
      .replace('[&open=1]', '&open=1')
      .replace('[&replaces=<token>]', '&replaces=' + token)
      .replace('[&callback=<name>]', '&callback=Pushframe._poll.pos2');
    expect(path).not.toMatch(/[<>[\]]/);
    const res = await fetch(server.url + path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
    expect(await res.text()).toMatch(/^\/\*\*\/Pushframe\._poll\.pos2\(\{"cursor":/);
    expect((server.stats().drops.replaced ?? 0) - replacedBefore).toBe(1);
  },
  'fallbacks-poll-answer'() {
    pollAnswers ??= pollAnswerSamples();
    return pollAnswers;
  },
  async 'fallbacks-jsonp-answer'() {
    // Compared with a real JSONP answer by the same run as fallbacks-poll-answer.
    pollAnswers ??= pollAnswerSamples();
    await pollAnswers;
  },
  async 'fallbacks-curl-poll'() {
    const { server } = await pageServer();
    const lines = sample('fallbacks-curl-poll').split('\n').filter((l) => !l.startsWith('#'));
    expect(lines).toHaveLength(2);
    const where = await runCommand(commandFor(lines[0], server.url));
    const position = JSON.parse(where.stdout) as { cursor: string; messages: unknown[] };
    expect(position.messages).toEqual([]);
    // As written, the cursor is from another server's epoch: answered at once, with a reset.
    const written = JSON.parse((await runCommand(commandFor(lines[1], server.url))).stdout) as { resets: string[] };
    expect(written.resets).toEqual(['news']);
    // With the cursor the first answer gave: held until something comes.
    const own = runCommand(commandFor(lines[1].replace('k3v9~120', position.cursor), server.url));
    await new Promise((r) => setTimeout(r, 200));
    const id = await server.hub.publish('news', { title: 'polled' });
    const after = JSON.parse((await own).stdout) as { messages: unknown[] };
    expect(after.messages).toEqual([['news', id, { title: 'polled' }]]);
  },
  async 'fallbacks-sse-request'() {
    const { server } = await pageServer();
    const [request, header] = sample('fallbacks-sse-request').split('\n');
    const position = (await (await fetch(server.url + '/pushframe/poll?channels=news,stocks/*')).json()) as { cursor: string };
    const path = request.slice(4).replace('<p1>,<p2>', 'news,stocks/*').replace('[&since=<cursor>]', '&since=zz~1');
    const [name] = header.split(':');
    expect(name).toBe('Last-Event-ID');
    // Last-Event-ID wins over since: the stream resumes from it, with no reset for the other epoch's cursor.
    const res = await fetch(server.url + path, { headers: { [name]: position.cursor } });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await readUntil(res, (t) => t.includes('event: ready'));
    expect(text).toContain(`event: ready\nid: ${position.cursor}\n`);
    expect(text).not.toContain('event: reset');
  },
  'fallbacks-sse-stream'() {
    return slow.sseStream!;
  },
  async 'fallbacks-curl-sse'() {
    const { server } = await pageServer();
    const args = commandFor(sample('fallbacks-curl-sse'), server.url);
    const curl = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    running.push(curl);
    let out = '';
    curl.stdout!.on('data', (d: Buffer) => (out += d));
    const until = async (what: string): Promise<void> => {
      for (const deadline = Date.now() + 10_000; !out.includes(what); await new Promise((r) => setTimeout(r, 25))) {
        if (Date.now() > deadline) throw new Error(`curl printed no ${what}: ${out.slice(-300)}`);
      }
    };
    try {
      await until('event: ready');
      const id = await server.hub.publish('news', { title: 'by curl' });
      await until(`data: {"channel":"news","id":"${id}","data":{"title":"by curl"}}`);
    } finally {
      curl.kill('SIGKILL');
    }
  },
  async 'fallbacks-nginx'() {
    const { server } = await pageServer();
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'pushframe-fbnginx-'));
    const location = sample('fallbacks-nginx').replace('http://127.0.0.1:8080', server.url);
    expect(location).not.toBe(sample('fallbacks-nginx'));
    const nginx = await startNginxConf(dir, `server {\n  listen 127.0.0.1:${port};\n${location}\n}`, [port]);
    try {
      const stream = textReader(await fetch(`http://127.0.0.1:${port}/pushframe/events?channels=news`), 'the stream through nginx');
      // ready arrives unbuffered, then the message published after it.
      await stream.until('event: ready');
      await server.hub.publish('news', { title: 'through nginx' });
      await stream.until('"title":"through nginx"');
      await stream.cancel();
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${nginx.errorLog()}`);
    } finally {
      await nginx.stop();
    }
  },
  async 'scaling-redis-nodes'() {
    const redis = await startRedis();
    const children: ChildProcess[] = [];
    try {
      const lines = sample('scaling-redis-nodes')
        .split('\n')
        .map((l) => l.replace(/^# or: /, ''));
      expect(lines).toHaveLength(3);
      const ports: number[] = [];
      for (const line of lines) {
        const port = await freePort();
        ports.push(port);
        const cmd = line.replace('redis://127.0.0.1:6379', redis.url).replace(/\b808[123]\b/, String(port));
        expect(cmd).not.toBe(line);
        const child = spawn('sh', ['-c', cmd], { cwd: ROOT, env: NPM_START_ENV, stdio: 'ignore', detached: true });
        children.push(child);
      }
      await Promise.all(ports.map((p) => waitForPort(p, 20_000)));
      const [a, b, c] = ports.map((p) => `http://127.0.0.1:${p}/pushframe`);
      const stream = textReader(await fetch(b + '/events?channels=news'), 'the stream of the second node');
      await stream.until('event: ready');
      for (const [url, from] of [[a, 'a'], [c, 'c']]) {
        const r = await fetch(url + '/publish/news', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from }) });
        expect(r.status).toBe(202);
        await stream.until(`"from":"${from}"`);
      }
      await stream.cancel();
    } finally {
      for (const child of children) process.kill(-child.pid!, 'SIGKILL');
      await redis.stop();
    }
  },
  async 'security-production-refusal'() {
    const [command, message, echo, status] = sample('security-production-refusal').split('\n');
    expect(echo).toBe('$ echo $?');
    const r = await runCommand(['sh', '-c', `${command.slice(2)}; echo $?`], { env: { PATH: `${pushframeBin()}:${process.env.PATH ?? ''}` } });
    expect([r.stderr, r.stdout]).toEqual([message + '\n', status + '\n']);
  },
  async 'security-cli-grant'() {
    const lines = sample('security-cli-grant').split('\n');
    const r = await runCommand(['sh', '-c', lines.slice(0, 2).join('\n')], { env: { PATH: `${pushframeBin()}:${process.env.PATH ?? ''}` } });
    expect(r.stderr).toBe('');
    const token = r.stdout.trim();
    // The doc abbreviates the token it shows; the real one has the same three parts.
    expect(lines[2]).toMatch(/^g1\.[A-Za-z0-9.]+\.[A-Za-z0-9.]+$/);
    expect(token).toMatch(/^g1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const g = verifyGrant('...', token); // the secret the sample exports
    expect(g.patterns).toEqual(['user:42/**', 'news']);
    expect(g.expiresAt - Date.now() / 1000).toBeGreaterThan(590);
    expect(g.expiresAt - Date.now() / 1000).toBeLessThanOrEqual(601);
  },
  async 'security-python-grant'() {
    const PYTHON = '/usr/bin/python3';
    if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: install the Debian package "python3" (apt-get install python3)`);
    const code = `SECRET = "a-server-secret"\n${sample('security-python-grant')}\nprint(token)\n`;
    const r = await runCommand([PYTHON, '-c', code]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const g = verifyGrant('a-server-secret', r.stdout.trim());
    expect(g.patterns).toEqual(['user:42/**']);
    expect(g.expiresAt - Date.now() / 1000).toBeGreaterThan(590);
  },
});

/**
 * docs/protocol.md describes the stream's frames in a table (no fenced block): each
 * form shown must be one a real stream sends, and every frame a stream sends must have
 * its row. One stream sees open, reset, messages (plain and as JSON text), checkpoint,
 * heartbeat (after the default 4 s) and reconnect (shutdown); a second, on a private
 * channel with a one-second grant, ends with an error frame when the grant expires.
 */
async function protocolFrames(): Promise<void> {
  const table = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
  const forms = [...table.matchAll(/^\| `(<script>p\.[a-z]\(.*\)<\/script>)` \|/gm)].map((m) => m[1]);
  expect(forms.length).toBeGreaterThanOrEqual(8);
  const pattern = (form: string): RegExp =>
    new RegExp(
      '^' +
        form
          .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          // `[...]`: an optional part.
          .replace(/\\\[(.*?)\\\]/g, '(?:$1)?')
          .replace(/"<[a-z]+>"/g, '"(?:[^"\\\\]|\\\\.)*"')
          .replace(/<(heartbeatMs|delayMs)>/g, '\\d+')
          .replace(/<data>/g, '.+?')
          .replace(/,\\\.\\\.\\\./g, '(?:,.*?)?') +
        '$',
    );
  const secret = 'a-secret-for-the-frames';
  const push = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', secret });
  let closed = false;
  try {
    const read = async (res: Response, until: (t: string) => boolean, ms: number): Promise<string> => {
      const reader = res.body!.getReader();
      let text = '';
      const deadline = Date.now() + ms;
      while (!until(text)) {
        if (Date.now() > deadline) throw new Error('the stream did not show what was expected: ' + text.slice(-400));
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      return text;
    };
    const base = push.url + '/pushframe/stream?';
    const main = await fetch(base + 'channels=stocks/*&since=zz~1');
    const expiring = await fetch(base + new URLSearchParams({ channels: 'private/team', token: grant(secret, ['private/**'], 1) }).toString());
    const failed = read(expiring, (t) => t.includes('<script>p.e('), 5000);
    let text = '';
    const reader = main.body!.getReader();
    const until = async (what: RegExp, ms: number): Promise<void> => {
      for (const deadline = Date.now() + ms; !what.test(text); ) {
        if (Date.now() > deadline) throw new Error(`no ${what} in ${text.slice(-400)}`);
        const { value, done } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    };
    await until(/<script>p\.c\(/, 5000);
    await push.hub.publish('stocks/aex', { p: 12.5 });
    await push.hub.publish('stocks/asml', JSON.parse('{"__proto__":{"p":1}}'));
    await until(/<script>p\.j\(/, 5000);
    await until(/<script>p\.h\(\)<\/script>$/, 8000);
    const done = push.close();
    closed = true;
    await until(/<script>p\.r\(\d+\)<\/script>$/, 5000);
    await done;
    const frames = [...(text + (await failed)).matchAll(/<script>p\.[a-z]\(.*?\)<\/script>/g)].map((m) => m[0]);
    for (const frame of frames) expect([frame, forms.some((f) => pattern(f).test(frame))]).toEqual([frame, true]);
    for (const form of forms) expect([form, frames.some((f) => pattern(form).test(f))]).toEqual([form, true]);
  } finally {
    if (!closed) await push.close();
  }
}

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

  it('every fenced block is a marked sample, or listed with the reason it is not', () => {
    const blocks = fencedBlocks();
    const unmarked = blocks.filter((b) => !b.marked).map((b) => `${b.file}: ${b.first}`);
    expect(unmarked.sort()).toEqual(NOT_SAMPLES.map((n) => `${n.file}: ${n.first}`).sort());
    // Each marker is read by the sample parser too (same indentation as its block).
    expect(blocks.filter((b) => b.marked)).toHaveLength(samples.size);
    // The reasons given for docs/scaling.md hold: those are the blocks the nginx tests load.
    expect(documentedNginxBlocks().map((b) => b.split('\n')[0])).toEqual(NOT_SAMPLES.filter((n) => n.file === 'docs/scaling.md').map((n) => n.first));
    // The other fences of Markdown would escape this check.
    for (const file of DOCS) expect([file, /^ *~~~/m.test(readFileSync(join(ROOT, file), 'utf8'))]).toEqual([file, false]);
  });

  it.each(Object.keys(RUNNERS))('%s runs as written', async (name) => {
    await RUNNERS[name]();
  }, 60_000);

  it("docs/protocol.md's table of frames shows the frames a stream really sends", () => slow.frames!, 30_000);
});
