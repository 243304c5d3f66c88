import { ConfigError, configFromArgs, configFromEnv, resolveConfig } from '../../src/config';
import { MemoryBroker } from '../../src/brokers';
import { Hub } from '../../src/hub';
import type { Message } from '../../src/protocol';

describe('latestChannels', () => {
  it('is read from flags and the environment and checked as patterns', () => {
    expect(configFromArgs(['--latest-channels', 'prices/*,gauges/**'])).toEqual({ latestChannels: ['prices/*', 'gauges/**'] });
    expect(configFromEnv({ PUSHFRAME_LATEST_CHANNELS: 'a, b/*' })).toEqual({ latestChannels: ['a', 'b/*'] });
    expect(resolveConfig({ latestChannels: ['prices/*'] }).latestChannels).toEqual(['prices/*']);
    expect(() => resolveConfig({ latestChannels: ['prices/**/x'] })).toThrow(ConfigError);
    expect(() => resolveConfig({ latestChannels: ['bad name'] })).toThrow(/not a channel pattern/);
  });

  it('keys messages on matching channels by channel, and leaves explicit keys and other channels alone', async () => {
    const broker = new MemoryBroker({ maxCount: 10, maxAgeMs: 60_000 });
    const seen: Message[] = [];
    const hub = new Hub(broker, { maxMessageBytes: 1024, latestChannels: ['prices/*'] });
    broker.setSink((m) => seen.push(m));
    await hub.publish('prices/aex', 1);
    await hub.publish('prices/aex', 2, { key: 'bid' });
    await hub.publish('prices/aex/deep', 3);
    await hub.publish('news', 4);
    expect(seen.map((m) => [m.channel, m.key])).toEqual([
      ['prices/aex', 'prices/aex'],
      ['prices/aex', 'bid'],
      ['prices/aex/deep', undefined],
      ['news', undefined],
    ]);
    await broker.close();
  });
});
