import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Broker, HistoryLimits } from '../../src/brokers';
import { IpcBroker, channelPort } from '../../src/brokers/ipc';
import { ensureBuilt } from '../helpers/child';
import { LIMITS, describeBroker } from './broker-contract';
import { describeCursors } from './cursor-contract';
import { describeHub } from './hub-contract';

/**
 * The IPC broker of `--workers` over a real forked process: the primary's side (a
 * MemoryBroker behind an IpcBrokerHost, from dist/) in a child, the worker's side here,
 * talking over node's IPC channel with its real serialization. A peer is a second
 * IpcBroker on the same channel, as two workers share one primary.
 */

const DIST = join(__dirname, '..', '..', 'dist', 'src');
const children: ChildProcess[] = [];
const primaryOf = new Map<Broker, ChildProcess>();

beforeAll(() => ensureBuilt(), 120_000);
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  primaryOf.clear();
});

function primary(limits: HistoryLimits): ChildProcess {
  const script = `
    const { MemoryBroker } = require(${JSON.stringify(join(DIST, 'brokers'))});
    const { IpcBrokerHost, channelPort } = require(${JSON.stringify(join(DIST, 'brokers', 'ipc'))});
    new IpcBrokerHost(new MemoryBroker(${JSON.stringify(limits)})).attach(channelPort(process));
    process.on('disconnect', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { PATH: process.env.PATH ?? '' } });
  children.push(child);
  return child;
}

function client(child: ChildProcess): IpcBroker {
  const broker = new IpcBroker(channelPort(child));
  primaryOf.set(broker, child);
  return broker;
}

const harness = {
  async create(limits: Partial<HistoryLimits> = {}) {
    return client(primary({ ...LIMITS, ...limits }));
  },
  async peer(broker: Broker) {
    return client(primaryOf.get(broker) as ChildProcess);
  },
  // The primary's history dies with it: a new primary stands for the restart.
  async lose(broker: Broker) {
    await broker.close();
    primaryOf.get(broker)?.kill('SIGKILL');
    return client(primary(LIMITS));
  },
};

describeBroker('ipc', harness);
describeHub('ipc', harness);
describeCursors('ipc', harness);

test('calls fail with BrokerUnavailableError once the primary is gone, and status says so', async () => {
  const child = primary(LIMITS);
  const broker = client(child);
  expect(await broker.publish('a', '1')).toBe('1');
  expect(broker.status()).toMatchObject({ kind: 'memory', ready: true });
  const pending = broker.history('a', { epoch: await broker.epoch(), base: '0', channels: new Map() });
  await expect(pending).resolves.toMatchObject({ messages: [{ id: '1' }] });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  await expect(broker.publish('a', '2')).rejects.toMatchObject({ code: 'broker_unavailable' });
  expect(broker.status()).toMatchObject({ ready: false, detail: 'the primary process is gone' });
  await broker.close();
});
