import { median, percentile, Samples, spread } from '../../bench/stats';
import { expectedFor, benchMatches } from '../../bench/scenarios';

describe('percentile (nearest rank)', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);

  it('picks the value at the rank', () => {
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 99.5)).toBe(100);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3], 50)).toBe(2);
  });

  it('is NaN without samples', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('Samples', () => {
  it('grows past its first capacity and sorts numerically', () => {
    const s = new Samples();
    for (let i = 3000; i > 0; i--) s.add(i / 10);
    expect(s.length).toBe(3000);
    expect(spread(s)).toEqual({ p50: 150, p99: 297, max: 300 });
  });
});

describe('median', () => {
  it('averages the middle pair and ignores non-finite values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });
});

describe('expectedFor', () => {
  it('matches exact channels and one-level wildcards like the server does', () => {
    expect(benchMatches('stocks/*', 'stocks/aex')).toBe(true);
    expect(benchMatches('stocks/*', 'stocks/aex/x')).toBe(false);
    expect(benchMatches('stocks/*', 'stocksx/aex')).toBe(false);
    expect(benchMatches('a', 'a')).toBe(true);
  });

  it('counts the round-robin messages a subscription receives', () => {
    const channels = ['r/0', 'r/1', 'r/2'];
    // Messages 0..9 go to r/0 (0,3,6,9), r/1 (1,4,7), r/2 (2,5,8).
    expect(expectedFor('r/0', channels, 10)).toBe(4);
    expect(expectedFor('r/2', channels, 10)).toBe(3);
    expect(expectedFor('r/*', channels, 10)).toBe(10);
    expect(expectedFor('r/1,r/2', channels, 10)).toBe(6);
    expect(expectedFor('r/2', channels, 2)).toBe(0);
    expect(expectedFor('other', channels, 10)).toBe(0);
  });
});
