import { MemoryBroker, SYS_STATS_CHANNEL, embedContext, startServer, type StatsSample } from '../../src';
import type { PublishOptions } from '../../src/brokers/broker';
import { Hub } from '../../src/hub';
import { SysStats, type StatsSource } from '../../src/sysstats';
import { openStream } from '../helpers/forever-frame';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A memory broker that counts what is published on each channel. */
class CountingBroker extends MemoryBroker {
  readonly counts = new Map<string, number>();
  override publish(channel: string, json: string, options?: PublishOptions): Promise<string> {
    this.counts.set(channel, (this.counts.get(channel) ?? 0) + 1);
    return super.publish(channel, json, options);
  }
}

describe('the server publishes its own figures on _sys/stats', () => {
  it('once per statsIntervalMs, keep-latest, with connections by transport, rates, bytes, RSS and uptime', async () => {
    const server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', demo: false, statsIntervalMs: 100 });
    const base = server.url + server.config.prefix;
    const r = await openStream(base, { channels: SYS_STATS_CHANNEL });
    try {
      const samples = (): StatsSample[] => r.messages().map((m) => m.data as StatsSample);
      await r.until(() => samples().length >= 1, 3000, 'a first sample');
      for (let i = 0; i < 30; i++) await server.hub.publish('load', i);
      await r.until(() => samples().some((s) => s.rates.in >= 30), 3000, 'a sample counting the 30 messages');
      const s = samples()[samples().length - 1];
      expect(s.connections.total).toBe(1);
      expect(s.connections.byTransport).toEqual({ iframe: 1 });
      expect(s.memory.rss).toBeGreaterThan(1024 * 1024);
      expect(s.messages.in).toBeGreaterThanOrEqual(30);
      expect(s.bytes.out).toBeGreaterThan(0);
      expect(typeof s.uptimeSeconds).toBe('number');
      expect(typeof s.rates.bytesOut).toBe('number');
      const t0 = r.messages().length;
      await sleep(550);
      const n = r.messages().length - t0;
      // About five a half-second; timers may slip under load, never run ahead.
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(6);

      // Keep-latest: a page that was away gets the newest sample only.
      const { cursor } = await embedContext(server.hub, [SYS_STATS_CHANNEL]);
      await sleep(450);
      const late = await openStream(base, { channels: SYS_STATS_CHANNEL, since: cursor });
      try {
        await late.until(() => late.messages().length >= 1, 3000, 'the backlog');
        // The backlog is the p.m frame written with the open frame: one sample, not four.
        const kinds = late.frames.map((f) => f.kind);
        expect(kinds.slice(0, 2)).toEqual(['o', 'm']);
        expect(late.frames[1].args).toHaveLength(3);
      } finally {
        late.close();
      }
    } finally {
      r.close();
      await server.close();
    }
  });

  it('stops on close, and publishes nothing when statsIntervalMs is 0', async () => {
    const on = new CountingBroker({ maxCount: 100, maxAgeMs: 60_000 });
    const server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', statsIntervalMs: 50, brokerInstance: on });
    await sleep(220);
    await server.close();
    const published = on.counts.get(SYS_STATS_CHANNEL) ?? 0;
    expect(published).toBeGreaterThanOrEqual(2);
    await sleep(200);
    expect(on.counts.get(SYS_STATS_CHANNEL)).toBe(published);

    const off = new CountingBroker({ maxCount: 100, maxAgeMs: 60_000 });
    const quiet = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', statsIntervalMs: 0, brokerInstance: off });
    await sleep(200);
    await quiet.close();
    expect(off.counts.get(SYS_STATS_CHANNEL)).toBeUndefined();
  });
});

describe('SysStats rates', () => {
  it('are per second over the time between two samples', async () => {
    const broker = new MemoryBroker({ maxCount: 10, maxAgeMs: 60_000 });
    const hub = new Hub(broker, { maxMessageBytes: 4096 });
    let now = 1_000_000;
    const src: StatsSource = {
      uptimeSeconds: 5,
      connections: { total: 2, byTransport: { iframe: 2 } },
      messages: { in: 100, out: 100, written: 180 },
      bytes: { out: 50_000 },
      memory: { rss: 1, heapUsed: 1 },
    };
    const stats = new SysStats(hub, () => src, 1000, undefined, () => now);
    expect(stats.sample().rates).toEqual({ in: 0, out: 0, bytesOut: 0 });
    now += 2000;
    src.messages = { in: 150, out: 150, written: 280 };
    src.bytes = { out: 90_000 };
    expect(stats.sample().rates).toEqual({ in: 25, out: 50, bytesOut: 20_000 });
    for (let i = 0; i < 100; i++) stats.sample();
    expect(stats.history()).toHaveLength(60);
    await broker.close();
  });
});
