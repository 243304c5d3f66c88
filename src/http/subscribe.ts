import type { Exchange } from './exchange';
import { GrantError, firstUncovered, privatePatterns, verifyGrant, type Grant } from '../auth';
import type { Config } from '../config';
import { PushframeError } from '../errors';
import type { Cursor } from '../protocol';
import type { Deps } from './deps';
import { client } from './client';
import type { Abandonable } from './replacing';
import { checkOriginHeader } from './origins';
import { MAX_GRANTS, parseChannelList, parseSince, single, type ChannelEntry, queryOf } from './query';

export interface Subscription {
  /** Shared with other requests that sent the same list: read only. */
  patterns: readonly string[];
  cursor: Cursor | undefined;
  /** A permitted cross-origin `Origin` header, to echo in CORS headers. */
  corsOrigin: string | undefined;
  /** When the grant that allowed private channels ends (ms); an open stream ends then too. */
  grantExpiresAt: number | undefined;
}

export interface SubscriptionOptions {
  /** Where the resume cursor comes from when not `since=` (e.g. SSE's Last-Event-ID). */
  parseCursor?: (ctx: Exchange) => Cursor | undefined;
  now?: number;
}

/**
 * What every subscribing endpoint (stream, poll, events) checks before its first byte:
 * the `Origin` header, the channel patterns, the resume cursor and, for private
 * channels, the grant in `token=`.
 */
export function readSubscription(ctx: Exchange, config: Config, options: SubscriptionOptions = {}): Subscription {
  const query = queryOf(ctx);
  const corsOrigin = checkOriginHeader(ctx, config);
  const { entries, patterns, grantRefs } = parseChannelList(query, config.maxChannels);
  const cursor = options.parseCursor ? options.parseCursor(ctx) : parseSince(query);
  const now = options.now ?? Date.now();
  const token = single(query, 'token');
  const grantExpiresAt = grantRefs ? authorizeEntries(entries, token, config, now) : authorize(patterns, token, config, now);
  return { patterns, cursor, corsOrigin, grantExpiresAt };
}

/**
 * A shared stream (several tabs' subscriptions, docs/bridge.md): `token=` is a list of
 * grants and each private entry must be covered by the very grant it names (`!n`),
 * never by another tab's. Returns when the first grant in use expires (ms).
 */
export function authorizeEntries(entries: readonly ChannelEntry[], token: string | undefined, config: Config, now: number): number | undefined {
  const tokens = token ? token.split(',') : [];
  if (tokens.length > MAX_GRANTS) throw new PushframeError('bad_request', `At most ${MAX_GRANTS} grants in "token".`);
  const verified = new Map<number, Grant>();
  let expiresAt: number | undefined;
  for (const entry of entries) {
    if (privatePatterns([entry.pattern], config.privateChannels).length === 0) continue;
    if (entry.grant === undefined || !tokens[entry.grant]) {
      throw new PushframeError('bad_grant', `"${entry.pattern}" is private: a grant (token=) is required.`);
    }
    let granted = verified.get(entry.grant);
    if (!granted) {
      granted = verify(config, tokens[entry.grant], now);
      verified.set(entry.grant, granted);
    }
    if (firstUncovered([entry.pattern], granted.patterns) !== null) {
      throw new PushframeError('bad_grant', `The grant does not cover "${entry.pattern}".`);
    }
    expiresAt = Math.min(expiresAt ?? Infinity, granted.expiresAt * 1000);
  }
  return expiresAt;
}

function verify(config: Config, token: string, now: number): Grant {
  try {
    return verifyGrant(config.secret, token, now);
  } catch (err) {
    if (err instanceof GrantError) throw new PushframeError('bad_grant', err.message);
    throw err;
  }
}

/**
 * Throws `bad_grant` unless every pattern touching a private channel is covered by the
 * grant; returns when the grant expires (ms), or undefined when none was needed.
 */
export function authorize(patterns: readonly string[], token: string | undefined, config: Config, now: number): number | undefined {
  const needed = privateOf(patterns, config.privateChannels);
  if (needed.length === 0) return undefined;
  if (!token) throw new PushframeError('bad_grant', `"${needed[0]}" is private: a grant (token=) is required.`);
  const granted = verify(config, token, now);
  const refused = firstUncovered(needed, granted.patterns);
  if (refused !== null) throw new PushframeError('bad_grant', `The grant does not cover "${refused}".`);
  return granted.expiresAt * 1000;
}

/** privatePatterns of each remembered channel list (query.ts), per configuration. */
const privateOfList = new WeakMap<readonly string[], { privateChannels: readonly string[]; needed: readonly string[] }>();

function privateOf(patterns: readonly string[], privateChannels: readonly string[]): readonly string[] {
  const known = privateOfList.get(patterns);
  if (known !== undefined && known.privateChannels === privateChannels) return known.needed;
  const needed = privatePatterns(patterns, privateChannels);
  privateOfList.set(patterns, { privateChannels, needed });
  return needed;
}

/** Longest delay a Node timer takes; a grant lasting longer is left to stream recycling. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const NOTHING_TO_CANCEL = (): void => undefined;

/**
 * Runs `onExpiry` when a grant ends, so a private subscription does not outlive its
 * permission; returns the cancel function. No grant, nothing to do.
 */
export function watchGrantExpiry(expiresAt: number | undefined, onExpiry: () => void, now: number = Date.now()): () => void {
  if (expiresAt === undefined || expiresAt - now > MAX_TIMER_MS) return NOTHING_TO_CANCEL;
  const timer = setTimeout(onExpiry, Math.max(0, expiresAt - now));
  timer.unref();
  return () => clearTimeout(timer);
}

/**
 * A long-lived request's place: a connection slot (draining, total and per-IP limits)
 * and, where the browser's budget applies (maxStreamsPerBrowser), its share of that; for
 * a stream, the token a later request may replace it by. One object per held request
 * rather than a closure per limit: it lives as long as the stream.
 */
export class HeldSlot {
  private released = false;
  private token: string | undefined = undefined;

  constructor(
    private readonly deps: Deps,
    private readonly ip: string,
    private readonly browser: string | null,
    /** The browser already holds its share: answer the request, do not hold it. */
    readonly capped: boolean,
  ) {}

  /**
   * Lets a later request end `stream` by naming the returned token (`replaces=`);
   * undefined for a capped request, which ends after its backlog anyway.
   */
  replaceable(stream: Abandonable): string | undefined {
    if (!this.capped) this.token = this.deps.replaceable.add(stream);
    return this.token;
  }

  /** Gives the slots back; safe to call more than once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.token !== undefined) this.deps.replaceable.delete(this.token);
    if (this.browser !== null) this.deps.budget.leave(this.browser);
    this.deps.limits.leave(this.ip);
  }
}

/**
 * Takes a connection slot for a long-lived request, plus the browser's budget. Call it
 * last, after every other check; release the slot when the response ends.
 */
export function admitHeld(ctx: Exchange, deps: Deps): HeldSlot {
  if (deps.draining.value) {
    ctx.set('Retry-After', '1');
    // The proxy must not reuse this connection: its next request belongs on another node.
    ctx.set('Connection', 'close');
    throw new PushframeError('shutting_down');
  }
  // A stream this request replaces (its page gave up on it) gives its slots back first.
  const replaces = single(queryOf(ctx), 'replaces');
  if (replaces !== undefined) deps.replaceable.replace(replaces);
  const ip = client(ctx, deps.config).ip;
  try {
    deps.limits.enter(ip);
  } catch (err) {
    // Spread the retries of many refused clients over 5-15 s rather than one instant.
    ctx.set('Retry-After', String(5 + Math.floor(Math.random() * 11)));
    throw err;
  }
  let browser: { capped: boolean; id: string | null };
  try {
    browser = deps.budget.enter(ctx);
  } catch (err) {
    deps.limits.leave(ip);
    throw err;
  }
  return new HeldSlot(deps, ip, browser.id, browser.capped);
}
