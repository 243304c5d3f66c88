import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureBuilt } from '../helpers/child';

/**
 * A node that restarts gets every client back at once, and its first health check must
 * not wait behind one-time work. The built server runs in a process of its own (jest's
 * sandbox has touched Node's lazy globals already) and answers its first request of each
 * kind; the process reports which of Node's modules were loaded, and which templates
 * compiled, while it answered. A fresh start must have done all of that before it listens.
 */

const ROOT = join(__dirname, '..', '..');

const FIRST_REQUESTS = [
  'GET /healthz',
  'GET /no-such-page',
  'GET /pushframe/stream?channels=news',
  'GET /pushframe/stream?channels=news&t=htmlfile',
  'GET /pushframe/poll?channels=news',
  'GET /pushframe/events?channels=news',
  'GET /pushframe/pushframe.js',
  'GET /pushframe/stats',
  'GET /',
];

const SCRIPT = `
  const net = require('node:net');
  const compiler = require('nunjucks/src/compiler');
  const compiled = [];
  const compile = compiler.compile;
  compiler.compile = function (src, asyncFilters, extensions, name) {
    compiled.push(String(name).split('/').pop());
    return compile.apply(this, arguments);
  };
  const { startServer } = require(${JSON.stringify(join(ROOT, 'dist', 'src', 'server.js'))});

  // The first bytes of the answer, over a raw socket: the client loads nothing of its own.
  function firstBytes(port, line) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(line + ' HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAccept: text/html\\r\\n\\r\\n');
      });
      socket.setEncoding('utf8');
      socket.once('data', (text) => { socket.destroy(); resolve(text.split('\\r\\n')[0]); });
      socket.on('error', reject);
    });
  }

  (async () => {
    const server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', statsIntervalMs: 0, demo: true });
    const port = server.http.address().port;
    const report = [];
    for (const line of ${JSON.stringify(FIRST_REQUESTS)}) {
      const modules = process.moduleLoadList.length;
      const templates = compiled.length;
      const status = await firstBytes(port, line);
      report.push({ line, status, modules: process.moduleLoadList.slice(modules), templates: compiled.slice(templates) });
    }
    process.stdout.write(JSON.stringify(report) + '\\n');
    await server.close();
    process.exit(0);
  })().catch((err) => { console.error(err); process.exit(1); });
`;

interface Answer {
  line: string;
  status: string;
  modules: string[];
  templates: string[];
}

beforeAll(ensureBuilt, 180_000);

test('the first answer of each kind after a start loads no module and compiles no template', () => {
  const run = spawnSync(process.execPath, ['-e', SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '' } });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  const answers = JSON.parse(run.stdout) as Answer[];
  expect(answers.map((a) => a.line)).toEqual(FIRST_REQUESTS);
  // Each request really was answered (a 404 for the page that is not there).
  for (const a of answers) expect(a.status).toMatch(a.line.includes('no-such') ? / 404 / : / 200 /);
  expect(answers.filter((a) => a.modules.length > 0 || a.templates.length > 0)).toEqual([]);
});
