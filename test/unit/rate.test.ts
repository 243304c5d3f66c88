import { ConnectionLimits, clientIp } from '../../src/http/limits';
import { TokenBuckets } from '../../src/http/rate';

describe('TokenBuckets', () => {
  it('allows a burst of one second, then one token per 1/rate seconds', () => {
    const b = new TokenBuckets(5);
    const t = 1_000_000;
    for (let i = 0; i < 5; i++) expect(b.take('a', t)).toBe(0);
    expect(b.take('a', t)).toBe(200);
    expect(b.take('b', t)).toBe(0); // other clients have their own bucket
    expect(b.take('a', t + 199)).toBeGreaterThan(0);
    expect(b.take('a', t + 400)).toBe(0);
  });

  it('stays bounded under many distinct clients', () => {
    const b = new TokenBuckets(1, 1000);
    for (let i = 0; i < 10_000; i++) b.take('c' + i, 5_000 + i);
    expect(b.clients).toBeLessThanOrEqual(1000);
  });
});

describe('ConnectionLimits', () => {
  it('limits per IP and in total, and gives slots back', () => {
    const l = new ConnectionLimits(3, 2);
    l.enter('a');
    l.enter('a');
    expect(() => l.enter('a')).toThrow(expect.objectContaining({ code: 'too_many_client_connections' }));
    l.enter('b');
    expect(() => l.enter('c')).toThrow(expect.objectContaining({ code: 'too_many_connections' }));
    l.leave('a');
    expect(l.size).toBe(2);
    l.enter('c');
    expect(() => l.enter('d')).toThrow(/maximum of 3/);
  });

  it('folds IPv4-mapped addresses', () => {
    expect(clientIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(clientIp('::1')).toBe('::1');
    expect(clientIp(undefined)).toBe('unknown');
  });
});
