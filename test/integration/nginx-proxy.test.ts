import http from 'node:http';
import type { PushframeServer } from '../../src';
import { startDocumentedNginx, type DocumentedNginx } from '../helpers/documented-nginx';
import { freePort } from '../helpers/ports';
import { startTestServer } from '../helpers/server';

/**
 * nginx configured exactly as docs/scaling.md shows, pushframe with trustProxy=loopback and
 * its default per-client limit (200): viewers are told apart by the address nginx reports,
 * and nobody can claim another address by sending the header themselves.
 */

let node: PushframeServer;
let nginx: DocumentedNginx;
const open: http.ClientRequest[] = [];

beforeAll(async () => {
  node = await startTestServer({ trustProxy: 'loopback' });
  expect(node.config.maxConnectionsPerIp).toBe(200);
  // Both upstream lines name this node, so every request meets the same limits.
  nginx = await startDocumentedNginx({ upstreams: [node.port, node.port], app: await freePort(), workerConnections: 4096 });
}, 20_000);

afterAll(async () => {
  closeAll();
  await nginx?.stop();
  await node?.close();
});

function closeAll(): void {
  for (const r of open.splice(0)) r.destroy();
}

interface Opened {
  status: number;
  code?: string;
}

/** Opens a stream from `localAddress`; a refused one is read to its error code, an open one kept. */
function openStream(base: string, localAddress: string, headers: Record<string, string> = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/pushframe/stream?channels=crowd`, { agent: false, localAddress, headers }, (res) => {
      if (res.statusCode === 200) {
        open.push(req);
        res.resume();
        resolve({ status: 200 });
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error: { code: string } }).error.code;
        } catch {
          code = text.slice(0, 80);
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
    });
    req.on('error', reject);
  });
}

async function openMany(n: number, from: (i: number) => string, base: string, headers?: (i: number) => Record<string, string>): Promise<Opened[]> {
  const out: Opened[] = [];
  // Sequential batches: the count at refusal time must be exact.
  for (let i = 0; i < n; i += 20) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 20); j++) batch.push(openStream(base, from(j), headers?.(j)));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

async function drained(): Promise<void> {
  closeAll();
  const end = Date.now() + 10_000;
  while (node.stats().connections.slots > 0) {
    if (Date.now() > end) throw new Error(`slots still taken: ${node.stats().connections.slots}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tally = (list: Opened[]): Record<string, number> => {
  const t: Record<string, number> = {};
  for (const o of list) {
    const k = o.status === 200 ? '200' : `${o.status} ${o.code}`;
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
};

test('300 viewers from 300 addresses all get a stream through nginx', async () => {
  const from = (i: number): string => `127.0.${1 + Math.floor(i / 200)}.${1 + (i % 200)}`;
  const results = await openMany(300, from, nginx.url);
  expect(tally(results)).toEqual({ '200': 300 });
  expect(node.stats().connections.total).toBe(300);
  await drained();
}, 60_000);

test('260 streams from one address through nginx are held to the per-client limit', async () => {
  const results = await openMany(260, () => '127.0.3.3', nginx.url);
  expect(tally(results)).toEqual({ '200': 200, '429 too_many_client_connections': 60 });
  await drained();
}, 60_000);

test('the same 260 sent directly, without nginx, with forged X-Forwarded-For, still count as one client', async () => {
  // Everything here is on loopback, and `loopback` trusts every local address: a direct
  // client on 127.0.4.4 would be a trusted proxy. This node trusts exactly the address
  // nginx connects from (docs/security.md recommends it when local users are not trusted).
  const strict = await startTestServer({ trustProxy: '127.0.0.1' });
  try {
    const results = await openMany(260, () => '127.0.4.4', strict.url, (i) => ({
      'X-Forwarded-For': `198.51.100.${i % 250}, 10.0.${i % 250}.1`,
      Forwarded: `for=203.0.113.${i % 250}`,
    }));
    expect(tally(results)).toEqual({ '200': 200, '429 too_many_client_connections': 60 });
  } finally {
    closeAll();
    await strict.close();
  }
}, 60_000);

test('through nginx, the page origin (with its port) passes and a rebound host name does not', async () => {
  const origin = nginx.url; // http://127.0.0.1:<port>: nginx's $host would drop the port
  const poll = await fetch(`${nginx.url}/pushframe/poll?channels=crowd`, { headers: { Origin: origin } });
  expect(poll.status).toBe(200);
  const other = await fetch(`${nginx.url}/pushframe/poll?channels=crowd`, { headers: { Origin: 'http://127.0.0.1:1' } });
  expect(other.status).toBe(403);
  // DNS rebinding: the attacker's name resolves to this server; Origin and Host agree.
  const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.get(
      `${nginx.url}/pushframe/poll?channels=crowd`,
      { agent: false, headers: { Host: 'rebind.attacker.example', Origin: 'http://rebind.attacker.example' } },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
  });
  expect(rebound.status).toBe(421);
  expect(rebound.body).toMatch(/"unknown_host"/);
});
