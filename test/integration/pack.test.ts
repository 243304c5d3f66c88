import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const NPM_OPTS = ['--no-audit', '--no-fund', '--loglevel=error'];

/** Hard-links a directory tree (fast, no extra space; node_modules are read-only here). */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) linkTree(src, dst);
    else if (entry.isSymbolicLink()) cpSync(src, dst, { verbatimSymlinks: true });
    else linkSync(src, dst);
  }
}

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const APP = (kind: 'cjs' | 'esm'): string => `
${kind === 'cjs' ? "const { createPushframe, applyStreamSettings, streamServerOptions } = require('pushframe');\nconst http = require('node:http');\n(async () => {" : "import { createPushframe, applyStreamSettings, streamServerOptions } from 'pushframe';\nimport http from 'node:http';\n{"}
const push = await createPushframe({ logLevel: 'silent', statsIntervalMs: 0 });
const server = applyStreamSettings(http.createServer(streamServerOptions(), push.handler()));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = 'http://127.0.0.1:' + server.address().port;
const bridge = await fetch(base + '/pushframe/pushframe.js');
const res = await fetch(base + '/pushframe/events?channels=news');
const reader = res.body.getReader();
let text = '';
const read = (async () => {
  while (!text.includes('"hello"')) text += new TextDecoder().decode((await reader.read()).value);
})();
await new Promise((r) => setTimeout(r, 100));
const id = await push.publish('news', { hello: '${kind}' });
await read;
const other = await fetch(base + '/elsewhere');
console.log(JSON.stringify({ bridge: bridge.status, bridgeBytes: (await bridge.text()).length, id, got: text.includes('${kind}'), other: other.status }));
await reader.cancel();
await push.close();
server.close();
${kind === 'cjs' ? '})();' : '}'}
`;

/**
 * The package as npm would publish it: packed from a copy of the working tree (its
 * prepack build runs there, not in this checkout's dist/), installed offline into a fresh
 * project whose node_modules hold only the runtime dependencies already installed here,
 * then used through require, import, the bin and the type declarations.
 */
describe('npm pack', () => {
  let work: string;
  let tarball: string;
  let app: string;
  let files: string[];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'pushframe-pack-'));
    const copy = join(work, 'src-copy');
    const listed = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f && !f.startsWith('node_modules/'));
    for (const file of listed) {
      try {
        if (!statSync(join(ROOT, file)).isFile()) continue;
      } catch {
        continue; // deleted in the working tree
      }
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      cpSync(join(ROOT, file), join(copy, file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
    const out = run('npm', ['pack', '--json', ...NPM_OPTS], copy, 240_000);
    const info = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = join(copy, info[0].filename);
    files = info[0].files.map((f) => f.path);

    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    // The runtime dependency closure, exactly as installed here: npm then needs no registry.
    const deps = run('npm', ['ls', '--omit=dev', '--parseable', '--all'], ROOT)
      .split('\n')
      .filter((d) => d.startsWith(join(ROOT, 'node_modules') + '/'))
      .map((d) => relative(join(ROOT, 'node_modules'), d))
      .filter((d) => !d.includes('/node_modules/'));
    for (const dep of new Set(deps)) linkTree(join(ROOT, 'node_modules', dep), join(app, 'node_modules', dep));
    run('npm', ['install', '--offline', ...NPM_OPTS, tarball], app);
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds the build, the views, the bridge (readable, minified, gzipped) and type declarations, and no sources or tests', () => {
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli.js', 'views/pushframe.njk', 'views/stream.njk', 'public/pushframe.js', 'public/pushframe.min.js', 'public/pushframe.min.js.gz', 'public/pushframe.d.ts', 'package.json', 'README.md']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /^(src|bridge|test|bench|examples|scripts)\//.test(f) || f.startsWith('dist/test') || f.startsWith('dist/bench'))).toEqual([]);
  });

  it.each(['cjs', 'esm'] as const)('runs an app on node:http from it (%s)', (kind) => {
    const file = join(app, kind === 'cjs' ? 'app.cjs' : 'app.mjs');
    writeFileSync(file, APP(kind));
    const result = JSON.parse(run(process.execPath, [file], app, 30_000).trim()) as Record<string, unknown>;
    expect(result).toEqual({ bridge: 200, bridgeBytes: expect.any(Number), id: expect.any(String), got: true, other: 404 });
    expect(result.bridgeBytes as number).toBeLessThan(40_000); // the minified bridge (the readable one is twice that)
  });

  it('links the pushframe bin', () => {
    expect(run(join(app, 'node_modules', '.bin', 'pushframe'), ['--help'], app)).toMatch(/^pushframe: Comet server push/);
  });

  it('ships types for server code and for page code', () => {
    writeFileSync(
      join(app, 'server.ts'),
      "import { createPushframe, type Pushframe } from 'pushframe';\nexport const p: Promise<Pushframe> = createPushframe({ heartbeatMs: 5000 });\n",
    );
    writeFileSync(
      join(app, 'page.ts'),
      '/// <reference types="pushframe/public/pushframe" />\nconst c = Pushframe.connect({ channels: [\'news\'] });\nc.on(\'news\', (data, meta) => meta.id.length);\nexport {};\n',
    );
    writeFileSync(join(app, 'bad.ts'), "import { createPushframe } from 'pushframe';\ncreatePushframe({ heartbeatMz: 5000 });\n");
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    // @types/node is the one dev dependency a TypeScript user brings; reach it from here.
    const common = ['--noEmit', '--strict', '--module', 'commonjs', '--moduleResolution', 'node', '--target', 'es2022', '--lib', 'es2022,dom',
      '--skipLibCheck', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types')];
    run(process.execPath, [tsc, ...common, 'server.ts', 'page.ts'], app);
    const bad = spawnSync(process.execPath, [tsc, ...common, 'bad.ts'], { cwd: app, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/heartbeatMz/);
  });
});
