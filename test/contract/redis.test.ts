import Redis from 'ioredis';
import type { Broker, HistoryLimits } from '../../src/brokers';
import { RedisBroker, createRedisBroker } from '../../src/brokers/redis';
import { startRedis, type TestRedis } from '../helpers/redis';
import { LIMITS, describeBroker } from './broker-contract';
import { describeCursors } from './cursor-contract';
import { describeHub } from './hub-contract';

let redis: TestRedis;
let admin: Redis;
let namespaces = 0;
const made = new Map<Broker, { namespace: string; limits: HistoryLimits }>();

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});

afterAll(async () => {
  await admin?.quit();
  await redis?.stop();
});

async function create(limits: Partial<HistoryLimits> = {}, namespace = `t${++namespaces}:`): Promise<RedisBroker> {
  const full = { ...LIMITS, ...limits };
  const broker = await createRedisBroker(redis.url, { limits: full, namespace });
  made.set(broker, { namespace, limits: full });
  return broker;
}

const harness = {
  create,
  async peer(broker: Broker) {
    const { namespace, limits } = made.get(broker) as { namespace: string; limits: HistoryLimits };
    return create(limits, namespace);
  },
  async lose(broker: Broker) {
    await admin.flushall();
    return broker;
  },
};

describeBroker('redis', harness);
describeHub('redis', harness);
describeCursors('redis', harness);
