import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Counter } from 'prom-client';
import type { PushframeServer } from '../../src';
import { StreamClient } from '../helpers/stream-client';
import { publish, startTestServer } from '../helpers/server';
import { get } from '../helpers/http';

/** The value of one sample line, e.g. `pushframe_connections{transport="iframe"}`. */
function sample(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ')) return Number(line.slice(name.length + 1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  let a: PushframeServer;
  let b: PushframeServer;
  beforeAll(async () => {
    // Two servers in one process: each has its own registry.
    a = await startTestServer({ maxMessageBytes: 64 });
    b = await startTestServer();
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('serves Prometheus text in step with /stats', async () => {
    const c1 = await StreamClient.open(`${a.url}/pushframe/stream?channels=m`);
    const c2 = await StreamClient.open(`${a.url}/pushframe/stream?channels=m&t=htmlfile`);
    await Promise.all([c1.waitForFrame('o'), c2.waitForFrame('o')]);
    for (let i = 0; i < 3; i++) expect((await publish(a, 'm', String(i))).status).toBe(202);
    expect((await publish(a, 'm', JSON.stringify('x'.repeat(100)))).status).toBe(413);
    await Promise.all([c1.waitForMessages(3), c2.waitForMessages(3)]);
    c2.close();
    await new Promise((r) => setTimeout(r, 50));

    const r = await get(`${a.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = r.body;
    expect(text).toContain('# TYPE pushframe_connections gauge');
    expect(sample(text, 'pushframe_connections{transport="iframe"}')).toBe(1);
    expect(sample(text, 'pushframe_connections{transport="htmlfile"}')).toBe(0);
    expect(sample(text, 'pushframe_connections_opened_total{transport="htmlfile"}')).toBe(1);
    expect(sample(text, 'pushframe_messages_published_total')).toBe(3);
    expect(sample(text, 'pushframe_messages_in_total')).toBe(3);
    expect(sample(text, 'pushframe_messages_delivered_total')).toBe(6);
    expect(sample(text, 'pushframe_messages_written_total{transport="iframe"}')).toBe(3);
    expect(sample(text, 'pushframe_drops_total{transport="htmlfile",reason="client_gone"}')).toBe(1);
    expect(sample(text, 'pushframe_refusals_total{code="message_too_large"}')).toBe(1);
    expect(sample(text, 'pushframe_publish_duration_seconds_count{outcome="ok"}')).toBe(3);
    expect(text).toContain('pushframe_publish_duration_seconds_bucket{le="0.001",outcome="ok"}');
    expect(sample(text, 'pushframe_bytes_written_total{transport="iframe"}')).toBeGreaterThan(2048);
    expect(text).toContain('pushframe_process_resident_memory_bytes');

    const stats = a.stats();
    expect(stats.connections.byTransport).toEqual({ iframe: 1, htmlfile: 0 });
    expect(stats.messages).toEqual({ published: 3, in: 3, out: 6, written: 6 });
    expect(stats.refusals).toEqual({ message_too_large: 1 });
    expect(stats.bytes.out).toBe(
      (sample(text, 'pushframe_bytes_written_total{transport="iframe"}') ?? 0) +
        (sample(text, 'pushframe_bytes_written_total{transport="htmlfile"}') ?? 0),
    );

    // The other server saw none of it.
    const other = (await get(`${b.url}/metrics`)).body;
    expect(sample(other, 'pushframe_messages_published_total')).toBe(0);
    c1.close();
  });

  it('shows event-loop delay, descriptors, sockets, queued bytes and refusals by reason', async () => {
    // A stalled event loop, as a quadratic parse or a full scan would cause, starting
    // right after a scrape: the window that scrape opened must show it, every time.
    let text = '';
    for (let round = 0; round < 3; round++) {
      await get(`${b.url}/metrics`);
      const until = Date.now() + 300;
      while (Date.now() < until) {
        // busy
      }
      await new Promise((r) => setTimeout(r, 30));
      text = (await get(`${b.url}/metrics`)).body;
      expect(sample(text, 'pushframe_event_loop_delay_seconds{quantile="1"}')).toBeGreaterThan(0.25);
    }
    expect((await get(`${b.url}/pushframe/poll?${'x&'.repeat(40)}channels=a`)).status).toBe(414);
    const refusals = (await get(`${b.url}/metrics`)).body;
    expect(sample(refusals, 'pushframe_refusals_total{code="query_too_large"}')).toBe(1);
    expect(sample(text, 'pushframe_event_loop_delay_seconds{quantile="1"}')).toBeGreaterThan(0.25);
    expect(sample(text, 'pushframe_event_loop_delay_seconds{quantile="0.99"}')).toBeGreaterThan(0.25);
    expect(sample(text, 'pushframe_open_descriptors')).toBeGreaterThan(3);
    expect(sample(text, 'pushframe_client_sockets')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'pushframe_client_socket_budget')).not.toBe(0);
    expect(sample(text, 'pushframe_queued_bytes')).toBeGreaterThanOrEqual(0);
  });

  it('serves an application\'s own metrics added to the server\'s registry, on that server only', async () => {
    const orders = new Counter({ name: 'shop_orders_total', help: 'Orders placed.', registers: [a.metrics] });
    orders.inc(2);
    expect(sample((await get(`${a.url}/metrics`)).body, 'shop_orders_total')).toBe(2);
    expect(sample((await get(`${b.url}/metrics`)).body, 'shop_orders_total')).toBeUndefined();
  });
});

/** A full collection, where the runner was not started with --expose-gc. */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('servers made and closed in one process', () => {
  /** Starts a server, scrapes it, closes it; returns only a weak reference to its hub. */
  async function oneServer(): Promise<WeakRef<object>> {
    const s = await startTestServer();
    expect((await get(`${s.url}/metrics`)).body).toMatch(/^pushframe_process_cpu_seconds_total /m);
    await s.close();
    return new WeakRef(s.hub);
  }

  it('leave nothing behind that keeps them (process metrics are collected once per process)', async () => {
    // prom-client's process metrics watch the collector and the event loop with observers
    // it never stops: collected per server, they kept each closed server and all it held.
    const refs: WeakRef<object>[] = [];
    for (let i = 0; i < 3; i++) refs.push(await oneServer());
    await new Promise((r) => setTimeout(r, 50));
    collect();
    expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true, true]);
  });
});
