import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Requests handled per event-loop turn, by time. When thousands of clients come back at
 * once (a restart), each turn of the loop finds up to a thousand requests ready, and
 * handling them all in that turn keeps everything else waiting for its end: a health
 * check that waits behind a thousand stream openings answers in a second and gets the
 * node taken out of its balancer. Past `budgetMs` of handling in one turn, requests wait
 * for the next turn, in the order they came; `urgent` requests (health checks) are
 * handled at once. An idle or moderately busy server never queues anything.
 */
export function pacedListener(handle: Listener, urgent: (req: IncomingMessage) => boolean, budgetMs: number): Listener {
  const waiting: [IncomingMessage, ServerResponse][] = [];
  let next = 0;
  let turnStart = -1;

  const newTurn = (): void => {
    turnStart = -1;
  };

  const run = (req: IncomingMessage, res: ServerResponse): void => {
    if (turnStart < 0) {
      turnStart = performance.now();
      setImmediate(newTurn);
    }
    handle(req, res);
  };

  // Each waiting request is handled once the one before it has finished its microtasks
  // (a stream's subscription, its first write), so the budget counts them: handled all in
  // one go, their microtasks would run after the budget was spent, and a turn lasted
  // several budgets.
  const drain = async (): Promise<void> => {
    turnStart = performance.now();
    while (next < waiting.length && performance.now() - turnStart < budgetMs) {
      const [req, res] = waiting[next];
      waiting[next++] = undefined as unknown as [IncomingMessage, ServerResponse];
      // A client that gave up while it waited has nothing left to answer.
      if (req.socket.destroyed) continue;
      handle(req, res);
      await afterMicrotasks();
    }
    if (next < waiting.length) {
      setImmediate(startDrain);
    } else {
      waiting.length = 0;
      next = 0;
    }
    turnStart = -1;
  };
  const startDrain = (): void => void drain();

  return (req, res) => {
    if (urgent(req)) {
      handle(req, res);
    } else if (waiting.length === 0 && (turnStart < 0 || performance.now() - turnStart < budgetMs)) {
      run(req, res);
    } else {
      if (waiting.length === 0) setImmediate(startDrain);
      waiting.push([req, res]);
    }
  };
}

/**
 * Resolves after every microtask queued so far, and every one those queue, has run: a
 * microtask queued now asks for a tick, and Node runs ticks only once the microtask queue
 * is empty.
 */
function afterMicrotasks(): Promise<void> {
  return new Promise((resolve) => queueMicrotask(() => process.nextTick(resolve)));
}
