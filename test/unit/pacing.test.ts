import type { IncomingMessage, ServerResponse } from 'node:http';
import { pacedListener } from '../../src/http/pacing';

/** A request as the listener sees it: a url and a socket that may be gone. */
function request(url: string, destroyed = false): [IncomingMessage, ServerResponse] {
  return [{ url, socket: { destroyed } } as unknown as IncomingMessage, {} as ServerResponse];
}

function burn(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: a request that costs this much handling
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('pacedListener', () => {
  it('handles a burst over several turns, in order, with a health check ahead of the waiting ones', async () => {
    const handled: string[] = [];
    const turnOf = new Map<string, number>();
    let turn = 0;
    const listener = pacedListener(
      (req) => {
        handled.push(req.url as string);
        turnOf.set(req.url as string, turn);
        if (req.url !== '/healthz') burn(2);
      },
      (req) => req.url === '/healthz',
      10,
    );
    // 50 requests ready in one turn, each costing 2 ms: about 5 fit in a 10 ms budget.
    for (let i = 0; i < 50; i++) listener(...request('/s' + i));
    const first = handled.length;
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThan(50);
    // A health check arriving while 40-odd wait is answered at once.
    listener(...request('/healthz'));
    expect(handled[handled.length - 1]).toBe('/healthz');
    for (let i = 0; i < 100 && handled.length < 51; i++) {
      turn++;
      await nextTurn();
    }
    expect(handled.filter((u) => u !== '/healthz')).toEqual(Array.from({ length: 50 }, (_, i) => '/s' + i));
    // Spread over several turns, none of them holding much more than the budget.
    expect(turnOf.get('/s49')).toBeGreaterThan(1);
  });

  it('handles requests at once when nothing waits, and skips a client that left while waiting', async () => {
    const handled: string[] = [];
    // 60 ms each against a 100 ms budget: the second starts inside the budget with 40 ms to
    // spare (a busy machine may preempt the first), the third is past it.
    const listener = pacedListener((req) => {
      handled.push(req.url as string);
      burn(60);
    }, () => false, 100);
    listener(...request('/a'));
    listener(...request('/b'));
    expect(handled).toEqual(['/a', '/b']);
    listener(...request('/gone', true));
    listener(...request('/c'));
    expect(handled).toEqual(['/a', '/b']);
    await nextTurn();
    await nextTurn();
    expect(handled).toEqual(['/a', '/b', '/c']);
    // A later turn with nothing waiting: handled at once again.
    await nextTurn();
    listener(...request('/d'));
    expect(handled).toEqual(['/a', '/b', '/c', '/d']);
  });

  it('counts the microtasks a waiting request starts against the budget of its turn', async () => {
    // Like a stream opening: little synchronous work, then a subscription that goes on in
    // microtasks and costs 2 ms there.
    let turn = 0;
    const turns: number[] = [];
    const listener = pacedListener(
      () => {
        void Promise.resolve()
          .then(() => undefined)
          .then(() => {
            burn(2);
            turns.push(turn);
          });
      },
      () => false,
      10,
    );
    // Requests arrive one I/O callback after another: each one's microtasks run before the next.
    for (let i = 0; i < 40; i++) {
      listener(...request('/s' + i));
      await Promise.resolve();
    }
    for (let i = 0; i < 100 && turns.length < 40; i++) {
      turn++;
      await nextTurn();
    }
    expect(turns).toHaveLength(40);
    // About five 2 ms requests fit in a 10 ms budget; none of the turns holds many more.
    const perTurn = new Map<number, number>();
    for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(8);
    expect(perTurn.size).toBeGreaterThan(3);
  });
});
