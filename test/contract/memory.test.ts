import { MemoryBroker, type Broker } from '../../src/brokers';
import { LIMITS, describeBroker } from './broker-contract';
import { describeCursors } from './cursor-contract';
import { describeHub } from './hub-contract';

const harness = {
  async create(limits = {}) {
    return new MemoryBroker({ ...LIMITS, ...limits });
  },
  // A memory broker's history dies with its process: a new one stands for the restart.
  async lose(broker: Broker) {
    await broker.close();
    return new MemoryBroker(LIMITS);
  },
};

describeBroker('memory', harness);
describeHub('memory', harness);
describeCursors('memory', harness);
