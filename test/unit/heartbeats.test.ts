import { startTicking, stopTicking } from '../../src/transports/heartbeats';

describe('one heartbeat timer for many streams', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('ticks every registered stream once per period, spread over the period, until it stops', () => {
    const ticks = new Map<number, number[]>();
    const streams = Array.from({ length: 80 }, (_, i) => ({ tick: () => ticks.set(i, [...(ticks.get(i) ?? []), Date.now()]) }));
    const start = Date.now();
    const slots = streams.map((s) => startTicking(s, 800));
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(800 * 3);
    for (let i = 0; i < streams.length; i++) expect(ticks.get(i)).toHaveLength(3);
    // Not all in the same instant: eight steps of 100 ms.
    const firstTicks = new Set(streams.map((_, i) => (ticks.get(i) as number[])[0] - start));
    expect(firstTicks.size).toBe(8);
    stopTicking(streams[0], 800, slots[0]);
    jest.advanceTimersByTime(800);
    expect(ticks.get(0)).toHaveLength(3);
    expect(ticks.get(1)).toHaveLength(4);
    streams.forEach((s, i) => stopTicking(s, 800, slots[i]));
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps separate timers for separate periods', () => {
    let a = 0;
    let b = 0;
    const ta = { tick: () => a++ };
    const tb = { tick: () => b++ };
    const sa = startTicking(ta, 160);
    const sb = startTicking(tb, 1600);
    jest.advanceTimersByTime(1600);
    expect([a, b]).toEqual([10, 1]);
    stopTicking(ta, 160, sa);
    stopTicking(tb, 1600, sb);
    expect(jest.getTimerCount()).toBe(0);
  });
});
