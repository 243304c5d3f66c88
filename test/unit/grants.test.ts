import { GrantError, firstUncovered, grant, privatePatterns, verifyGrant } from '../../src/auth';
import { covers, overlaps } from '../../src/protocol';

const SECRET = 'correct horse battery staple';
const NOW = 1_800_000_000_000;

describe('grant / verifyGrant', () => {
  it('round-trips patterns and expiry', () => {
    const token = grant(SECRET, ['user:42/**', 'news'], 60, NOW);
    expect(token).toMatch(/^g1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(verifyGrant(SECRET, token, NOW)).toEqual({ patterns: ['user:42/**', 'news'], expiresAt: NOW / 1000 + 60 });
  });

  it('refuses an expired grant', () => {
    const token = grant(SECRET, ['a'], 60, NOW);
    expect(() => verifyGrant(SECRET, token, NOW + 59_000)).not.toThrow();
    expect(() => verifyGrant(SECRET, token, NOW + 60_000)).toThrow(expect.objectContaining({ reason: 'expired' }));
  });

  it('refuses a grant signed with another secret', () => {
    const token = grant('another secret', ['a'], 60, NOW);
    expect(() => verifyGrant(SECRET, token, NOW)).toThrow(expect.objectContaining({ reason: 'forged' }));
  });

  it('refuses a grant whose payload was changed (wider patterns, later expiry)', () => {
    const token = grant(SECRET, ['user:42/alerts'], 60, NOW);
    const [v, , sig] = token.split('.');
    const widened = Buffer.from(`${NOW / 1000 + 60}|user:42/**`).toString('base64url');
    const later = Buffer.from(`${NOW / 1000 + 99999}|user:42/alerts`).toString('base64url');
    for (const payload of [widened, later]) {
      expect(() => verifyGrant(SECRET, `${v}.${payload}.${sig}`, NOW)).toThrow(expect.objectContaining({ reason: 'forged' }));
    }
  });

  it('refuses malformed tokens without throwing anything else', () => {
    for (const bad of ['', 'g1', 'g1..', 'x.y.z', 'g1.abc.' + 'A'.repeat(42), 'g1.<script>.' + 'A'.repeat(43), 'g1.' + 'A'.repeat(20000) + '.' + 'A'.repeat(43)]) {
      expect(() => verifyGrant(SECRET, bad, NOW)).toThrow(GrantError);
    }
  });

  it('refuses everything when no secret is configured', () => {
    expect(() => verifyGrant('', grant(SECRET, ['a'], 60, NOW), NOW)).toThrow(expect.objectContaining({ reason: 'no_secret' }));
  });

  it('refuses to sign nonsense', () => {
    expect(() => grant('', ['a'], 60)).toThrow(TypeError);
    expect(() => grant(SECRET, [], 60)).toThrow(TypeError);
    expect(() => grant(SECRET, ['a/../b'], 60)).toThrow(TypeError);
    expect(() => grant(SECRET, ['a,b'], 60)).toThrow(TypeError);
    expect(() => grant(SECRET, ['a'], 0)).toThrow(TypeError);
    expect(() => grant(SECRET, ['a'], Number.NaN)).toThrow(TypeError);
  });
});

describe('pattern algebra', () => {
  it.each([
    ['user:42/**', 'user:42/alerts', true],
    ['user:42/**', 'user:42/*', true],
    ['user:42/**', 'user:42/a/b/**', true],
    ['user:42/**', 'user:42', false],
    ['user:42/**', 'user:4/alerts', false],
    ['user:42/**', 'user:42x/alerts', false],
    ['user:42/**', '**', false],
    ['user:42/**', 'user:*', false],
    ['user:42/alerts', 'user:42/alerts', true],
    ['user:42/alerts', 'user:42/*', false],
    ['user:42/alerts', 'user:42/**', false],
    ['user:42/alerts', '**', false],
    ['user:42/*', 'user:42/alerts', true],
    ['user:42/*', 'user:42/*', true],
    ['user:42/*', 'user:42/**', false],
    ['user:42/*', 'user:42/a/b', false],
    ['**', 'anything/at/all', true],
    ['**', '*', true],
    ['*', 'a', true],
    ['*', 'a/b', false],
    ['*', '**', false],
  ])('covers(%s, %s) = %s', (outer, inner, want) => {
    expect(covers(outer, inner)).toBe(want);
  });

  it.each([
    ['private/**', '**', true],
    ['private/**', '*', false],
    ['private/**', 'private/*', true],
    ['private/**', 'private/x/y', true],
    ['private/**', 'private', false],
    ['private/**', 'privatex/**', false],
    ['private/*', 'private/a/**', false],
    ['private/*', 'private/a', true],
    ['private/*', 'private/**', true],
    ['a/b', 'a/*', true],
    ['a/b', 'a/b/*', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/*', 'a/b/c', false],
  ])('overlaps(%s, %s) = %s (and symmetric)', (a, b, want) => {
    expect(overlaps(a, b)).toBe(want);
    expect(overlaps(b, a)).toBe(want);
  });

  it('asks for a grant for every pattern touching a private channel, wildcards included', () => {
    expect(privatePatterns(['news', 'private/a', '**', '*', 'private/**'], ['private/**'])).toEqual(['private/a', '**', 'private/**']);
  });

  it('refuses wildcard escalation', () => {
    expect(firstUncovered(['user:42/alerts', 'user:42/*'], ['user:42/**'])).toBeNull();
    expect(firstUncovered(['user:42/*'], ['user:42/alerts'])).toBe('user:42/*');
    expect(firstUncovered(['user:42/alerts', '**'], ['user:42/**'])).toBe('**');
  });
});
