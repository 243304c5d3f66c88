import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PushframeServer } from '../../src';
import { publish, startTestServer } from '../helpers/server';
import { StreamClient } from '../helpers/stream-client';
import { startRedis, type TestRedis } from '../helpers/redis';
import { canConnect, freePort } from '../helpers/ports';

/**
 * The nginx example of docs/scaling.md, run as written (ports substituted) in front of two
 * nodes on one Redis: streams pass unbuffered, and a client whose node goes away resumes
 * through nginx on the other node.
 */

const NGINX = '/usr/sbin/nginx';


/** The ```nginx block of docs/scaling.md. */
function documentedConfig(): string {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'scaling.md'), 'utf8');
  const m = /```nginx\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/scaling.md has no nginx example');
  return m[1];
}

async function startNginx(listen: number, upstreams: number[], dir: string): Promise<ChildProcess> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: install the Debian package "nginx-light" (or "nginx")`);
  let site = documentedConfig();
  expect(site).toContain('server 127.0.0.1:8081;');
  expect(site).toContain('listen 80;');
  site = site
    .replace('server 127.0.0.1:8081;', `server 127.0.0.1:${upstreams[0]};`)
    .replace('server 127.0.0.1:8082;', `server 127.0.0.1:${upstreams[1]};`)
    .replace('listen 80;', `listen 127.0.0.1:${listen};`);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const deadline = Date.now() + 5000;
  while (!(await canConnect(listen))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${stderr} ${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

let redis: TestRedis;
let nginx: ChildProcess;
let dir: string;
let base: string;
const nodes: PushframeServer[] = [];
const clients: StreamClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) nodes.push(await startTestServer({ broker: redis.url, heartbeatMs: 200 }));
  dir = mkdtempSync(join(tmpdir(), 'pushframe-nginx-'));
  const port = await freePort();
  nginx = await startNginx(port, nodes.map((n) => n.port), dir);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx.once('exit', r));
    nginx.kill('SIGTERM');
    await exited;
  }
  await Promise.all(nodes.map((n) => n.close()));
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open(query: string): Promise<StreamClient> {
  const c = await StreamClient.open(`${base}/pushframe/stream?${query}`);
  clients.push(c);
  return c;
}

test('through nginx: streams are unbuffered, and a client resumes on the other node when its node goes away', async () => {
  const first = await open('channels=via/*');
  await first.waitForFrame('o', 3000);
  // Which node holds the stream? The one whose stats count it.
  const counts = nodes.map((n) => n.stats().connections.total);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
  const holder = counts[0] === 1 ? 0 : 1;

  // Each message arrives on its own, promptly: nothing sits in a proxy buffer.
  for (let n = 0; n < 5; n++) {
    const started = Date.now();
    const r = await publish(nodes[1 - holder], 'via/x', JSON.stringify({ n }));
    expect(r.status).toBe(202);
    await first.waitForMessages(n + 1, 1000);
    expect(Date.now() - started).toBeLessThan(1000);
  }
  // Heartbeats pass too.
  const beats = first.frames.filter((f) => f.type === 'h').length;
  await first.waitFor((c) => c.frames.filter((f) => f.type === 'h').length > beats, 2000, 'a heartbeat through nginx');

  // The holding node goes away; publishing goes on elsewhere meanwhile.
  await nodes[holder].close();
  await first.waitForEnd(3000);
  for (let n = 5; n < 10; n++) expect((await publish(nodes[1 - holder], 'via/x', JSON.stringify({ n }))).status).toBe(202);
  // The reconnect goes through nginx, which has only the other node left.
  const second = await open(`channels=via/*&since=${encodeURIComponent(first.cursor)}`);
  await second.waitForMessages(5, 3000);
  expect(nodes[1 - holder].stats().connections.total).toBe(1);
  expect(second.frames.some((f) => f.type === 'x')).toBe(false);
  const all = [...first.messages, ...second.messages].map((m) => (m.data as { n: number }).n);
  expect(all).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
