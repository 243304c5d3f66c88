import { fork } from 'node:child_process';
import type { Worker } from 'node:cluster';
import { send } from '../../src/cluster/primary';
import { CLUSTER_TAG } from '../../src/cluster/messages';

/**
 * The primary tells a worker something (shut down, metrics) just as the worker dies: its
 * IPC pipe is broken before Node has noticed the disconnect. Node reports that EPIPE as
 * an 'error' event on the worker unless the send has a callback; with nothing listening,
 * the primary would crash (exit code 1 instead of the CLI's own answer).
 */
it('a send to a worker whose pipe broke meanwhile emits no error', async () => {
  const child = fork('-e', ['process.exit(0)'], { execArgv: [], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  const errors: Error[] = [];
  child.on('error', (err) => errors.push(err));
  await new Promise<void>((resolve) => child.once('spawn', () => resolve()));
  // Block this thread while the child exits: Node still believes it connected.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  expect(child.connected).toBe(true);
  const worker = Object.assign(child, { isConnected: () => child.connected }) as unknown as Worker;
  send(worker, { tag: CLUSTER_TAG, shutdown: true });
  await new Promise((r) => setTimeout(r, 200));
  expect(errors).toEqual([]);
});
