import http from 'node:http';
import { MemoryBroker, type PushframeServer } from '../../src';
import { BrokerUnavailableError } from '../../src/brokers';
import { StreamClient } from '../helpers/stream-client';
import { publish, startTestServer } from '../helpers/server';
import { errorCode, get, rawExchange } from '../helpers/http';

/** A GET from a chosen loopback address (127.0.0.0/8 is all local on Linux). */
function getFrom(localAddress: string, url: string): Promise<{ status: number; body: string; req: http.ClientRequest; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, localAddress }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => {
        body += c;
        if (res.statusCode === 200) resolve({ status: 200, body, req });
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, req, retryAfter: res.headers['retry-after'] }));
    });
    req.on('error', reject);
  });
}

describe('connection limits', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ maxConnections: 4, maxConnectionsPerIp: 2 });
  });
  afterAll(() => server.close());

  it('refuses past the per-IP limit with 429 JSON, while other addresses still get in, up to the total (503)', async () => {
    const url = `${server.url}/pushframe/stream?channels=a`;
    const open: http.ClientRequest[] = [];
    try {
      for (const ip of ['127.0.0.1', '127.0.0.1']) {
        const r = await getFrom(ip, url);
        expect(r.status).toBe(200);
        open.push(r.req);
      }
      const third = await getFrom('127.0.0.1', url);
      expect(third.status).toBe(429);
      expect(errorCode(third.body)).toBe('too_many_client_connections');
      expect(third.body).toMatch(/per client address/);
      expect(Number(third.retryAfter)).toBeGreaterThanOrEqual(5);
      expect(Number(third.retryAfter)).toBeLessThanOrEqual(15);

      for (const ip of ['127.0.0.2', '127.0.0.2']) {
        const r = await getFrom(ip, url);
        expect(r.status).toBe(200);
        open.push(r.req);
      }
      const fifth = await getFrom('127.0.0.3', url);
      expect(fifth.status).toBe(503);
      expect(fifth.body).toMatch(/maximum of 4 connections/);
      expect(server.stats().connections.slots).toBe(4);
    } finally {
      for (const r of open) r.destroy();
    }
    // Slots come back when clients leave.
    await waitUntil(() => server.stats().connections.slots === 0);
    const again = await getFrom('127.0.0.1', url);
    expect(again.status).toBe(200);
    again.req.destroy();
    expect(server.stats().refusals.too_many_connections).toBe(1);
    expect(server.stats().refusals.too_many_client_connections).toBe(1);
  });
});

describe('subscription and message limits', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ maxChannels: 3, maxMessageBytes: 1024 });
  });
  afterAll(() => server.close());

  it('max channels per subscription', async () => {
    const r = await get(`${server.url}/pushframe/stream?channels=a,b,c,d`);
    expect(r.status).toBe(400);
    expect(errorCode(r.body)).toBe('too_many_channels');
  });

  it('max channel name length (200) for subscriptions and publishes', async () => {
    const ok = 'a'.repeat(200);
    const long = 'a'.repeat(201);
    expect((await get(`${server.url}/pushframe/stream?channels=${ok}`, {}, 64)).status).toBe(200);
    const r = await get(`${server.url}/pushframe/stream?channels=${long}`);
    expect([r.status, errorCode(r.body)]).toEqual([400, 'bad_pattern']);
    const p = await publish(server, long, '1');
    expect([p.status, p.json.error.code]).toEqual([400, 'bad_channel']);
  });

  it('max message size', async () => {
    const big = JSON.stringify('x'.repeat(1100));
    const p = await publish(server, 'a', big);
    expect([p.status, p.json.error.code]).toEqual([413, 'message_too_large']);
    const huge = await publish(server, 'a', JSON.stringify('x'.repeat(100_000)));
    expect([huge.status, huge.json.error.code]).toEqual([413, 'body_too_large']);
    expect((await publish(server, 'a', JSON.stringify('x'.repeat(900)))).status).toBe(202);
  });

  it('max header / query size: 431 from the HTTP parser', async () => {
    const r = await rawExchange(server.port, `GET /pushframe/stream?channels=${'a,'.repeat(12_000)}a HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 431 /);
    expect(r.text).toContain('"code":"header_too_large"');
    expect(r.closed).toBe(true);
  });
});

describe('publish rate', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ publishRate: 1 });
  });
  afterAll(() => server.close());

  it('answers 429 rate_limited with Retry-After past the bucket, then recovers', async () => {
    // Sent together: the bucket (one second's worth: 1) lets exactly one through.
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => publish(server, 'r', String(i))));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 429, 429, 429, 429]);
    const limited = results.find((r) => r.status === 429)!;
    expect(limited.json.error.code).toBe('rate_limited');
    const retry = Number(limited.headers.get('retry-after'));
    expect(retry).toBe(1);
    await new Promise((r) => setTimeout(r, retry * 1000));
    expect((await publish(server, 'r', '"later"')).status).toBe(202);
    expect(server.stats().refusals.rate_limited).toBe(4);
  });
});

describe('an error after the first byte', () => {
  it('becomes a p.e frame, then the stream ends', async () => {
    const broker = new MemoryBroker({ maxCount: 10, maxAgeMs: 60_000 });
    // A broker that asks another process (as Redis does), and whose answer is a failure.
    const failing = Object.assign(Object.create(broker) as MemoryBroker, {
      immediate: undefined,
      epoch: () => Promise.reject(new BrokerUnavailableError('redis is down')),
    });
    const server = await startTestServer({ brokerInstance: failing });
    try {
      const c = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`);
      expect(c.status).toBe(200);
      await c.waitForEnd();
      expect(c.frames).toEqual([{ type: 'e', args: ['broker_unavailable', 'redis is down'] }]);
    } finally {
      await server.close();
    }
  });
});

async function waitUntil(pred: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
