import { createHmac, timingSafeEqual } from 'node:crypto';
import { covers, isPattern, overlaps } from '../protocol';

/**
 * Signed, expiring grants for private channels. A grant names the patterns a page may
 * subscribe to and when that permission ends; the server that renders the page signs it
 * with the shared secret (HMAC-SHA256), the browser passes it on as `token=`.
 *
 * Wire form: `g1.<base64url("<expiresAt>|<p1>,<p2>")>.<base64url(hmac)>`, where
 * `expiresAt` is in Unix seconds and the HMAC covers `g1.<payload>`. Patterns never
 * contain `|` or `,` (grammar.ts), so the payload splits unambiguously.
 */

const VERSION = 'g1';
/** Longer tokens are refused unread: no one needs a grant this large. */
export const GRANT_MAX_LENGTH = 8192;
const TOKEN = /^g1\.([A-Za-z0-9_-]{4,8000})\.([A-Za-z0-9_-]{43})$/;
/** A grant meant for one page view; a year is already far too long. */
const MAX_TTL_SECONDS = 366 * 24 * 3600;

export type GrantFailure = 'malformed' | 'forged' | 'expired' | 'no_secret';

export class GrantError extends Error {
  constructor(
    readonly reason: GrantFailure,
    message: string,
  ) {
    super(message);
    this.name = 'GrantError';
  }
}

export interface Grant {
  patterns: string[];
  /** Unix seconds. */
  expiresAt: number;
}

function sign(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(VERSION + '.' + payload).digest();
}

/**
 * Signs a grant for `patterns` valid for `ttlSeconds` from `now` (ms). Call it where the
 * page is rendered and hand the result to `Pushframe.connect({ token })`.
 */
export function grant(secret: string, patterns: readonly string[], ttlSeconds: number, now: number = Date.now()): string {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('grant: the secret is empty');
  if (!Array.isArray(patterns) || patterns.length === 0) throw new TypeError('grant: give at least one channel pattern');
  for (const p of patterns) if (!isPattern(p)) throw new TypeError(`grant: "${String(p)}" is not a channel pattern`);
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new TypeError(`grant: ttlSeconds must be between 1 and ${MAX_TTL_SECONDS}`);
  }
  const expiresAt = Math.floor(now / 1000) + Math.ceil(ttlSeconds);
  const payload = Buffer.from(expiresAt + '|' + patterns.join(',')).toString('base64url');
  const token = VERSION + '.' + payload + '.' + sign(secret, payload).toString('base64url');
  if (token.length > GRANT_MAX_LENGTH) throw new TypeError('grant: too many patterns for one grant');
  return token;
}

/** Checks signature (in constant time) and expiry; returns what the grant allows. */
export function verifyGrant(secret: string, token: string, now: number = Date.now()): Grant {
  if (!secret) throw new GrantError('no_secret', 'This server has no secret configured, so it accepts no grants.');
  const m = token.length <= GRANT_MAX_LENGTH ? TOKEN.exec(token) : null;
  if (!m) throw new GrantError('malformed', 'The grant is malformed.');
  const [, payload, sig] = m;
  const given = Buffer.from(sig, 'base64url');
  const want = sign(secret, payload);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new GrantError('forged', 'The grant signature does not match.');
  }
  // Signed by us: the payload is well formed unless the secret signed garbage.
  const text = Buffer.from(payload, 'base64url').toString('utf8');
  const bar = text.indexOf('|');
  const expiresAt = Number(text.slice(0, bar));
  const patterns = text.slice(bar + 1).split(',');
  if (bar < 1 || !Number.isSafeInteger(expiresAt) || !patterns.every(isPattern)) {
    throw new GrantError('malformed', 'The grant payload is malformed.');
  }
  if (expiresAt * 1000 <= now) throw new GrantError('expired', 'The grant has expired; reload the page for a new one.');
  return { patterns, expiresAt };
}

/** Patterns of `requested` that touch a private channel: these need a grant. */
export function privatePatterns(requested: readonly string[], privateChannels: readonly string[]): string[] {
  return requested.filter((r) => privateChannels.some((p) => overlaps(r, p)));
}

/**
 * The first requested pattern no granted pattern covers, or null when all are covered.
 * Covering, not overlapping: a grant for `user:42/alerts` does not allow `user:42/*`,
 * and one for `user:42/**` does not allow `**` (wildcard escalation).
 */
export function firstUncovered(requested: readonly string[], granted: readonly string[]): string | null {
  for (const r of requested) if (!granted.some((g) => covers(g, r))) return r;
  return null;
}
