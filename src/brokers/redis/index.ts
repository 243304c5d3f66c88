import { RedisBroker, type RedisBrokerOptions } from './broker';

export { RedisBroker, REDIS_DEFAULTS, type BrokerLogger, type RedisBrokerOptions } from './broker';

/** Creates a Redis broker and waits until Redis answers; rejects (and cleans up) if it does not. */
export async function createRedisBroker(
  url: string,
  options: Omit<RedisBrokerOptions, 'url'>,
  connectTimeoutMs = 5000,
): Promise<RedisBroker> {
  const broker = new RedisBroker({ ...options, url });
  try {
    await broker.connect(connectTimeoutMs);
  } catch (err) {
    await broker.close();
    throw err;
  }
  return broker;
}
