import { randomFillSync } from 'node:crypto';
import type { Exchange } from './exchange';

/**
 * A budget of long-lived requests per browser, like CometD's maxSessionsPerBrowser.
 * Over HTTP/1.1 a browser opens at most six connections to one host (IE6-7: two); tabs
 * that cannot share one stream (no storage, or `share: false`) would each hold one and
 * starve the browser's page loads. A browser is known by a cookie; past its budget a
 * request is not held: a stream ends after its open frame and backlog with a reconnect
 * after `cappedPollMs`, a long-poll is answered at once and asks the same wait.
 */
export const BROWSER_COOKIE = 'pf_browser';
const BROWSER_ID = /^[A-Za-z0-9_-]{22}$/;

/** What `enter` decided: over budget (`capped`), or a slot held under `id` (null: no budget). */
export interface BrowserEntry {
  capped: boolean;
  id: string | null;
}

const UNBUDGETED: BrowserEntry = { capped: false, id: null };
const CAPPED: BrowserEntry = { capped: true, id: null };

export class BrowserBudget {
  private readonly open = new Map<string, number>();
  /** Requests answered quickly because their browser was over budget. */
  capped = 0;

  constructor(
    /** Long-lived requests one browser may hold; 0 turns the budget off. */
    private readonly max: number,
    private readonly cookiePath: string,
  ) {}

  /** Browsers holding at least one long-lived request. */
  get browsers(): number {
    return this.open.size;
  }

  /** Reads (or gives) the browser's cookie and takes a slot unless it is over budget;
   * a held slot goes back with `leave(id)`, once. */
  enter(ctx: Exchange): BrowserEntry {
    if (this.max === 0) return UNBUDGETED;
    const id = this.identify(ctx);
    const held = this.open.get(id) ?? 0;
    if (held >= this.max) {
      this.capped++;
      return CAPPED;
    }
    this.open.set(id, held + 1);
    return { capped: false, id };
  }

  leave(id: string): void {
    const n = (this.open.get(id) ?? 1) - 1;
    if (n <= 0) this.open.delete(id);
    else this.open.set(id, n);
  }

  private identify(ctx: Exchange): string {
    const given = cookie(ctx.get('cookie'), BROWSER_COOKIE);
    if (given !== undefined && BROWSER_ID.test(given)) return given;
    const id = randomId();
    // Lax: sent with same-site frames and scripts; a cross-site embed sends none, and each
    // of its requests counts as a browser of its own (docs/bridge.md).
    ctx.append(
      'Set-Cookie',
      `${BROWSER_COOKIE}=${id}; Path=${this.cookiePath}; HttpOnly; SameSite=Lax${ctx.secure ? '; Secure' : ''}`,
    );
    return id;
  }
}

function cookie(header: string, name: string): string | undefined {
  // A new browser sends no cookie, or others than this one: nothing to split.
  if (header.indexOf(name) === -1) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * 16 random bytes as base64url (22 characters). Drawn from a pool filled 256 ids at a
 * time: one randomBytes call per id cost about 25 µs, a tenth of what opening a stream
 * costs.
 */
const ID_BYTES = 16;
const pool = Buffer.alloc(ID_BYTES * 256);
let poolAt = pool.length;

export function randomId(): string {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const id = pool.toString('base64url', poolAt, poolAt + ID_BYTES);
  poolAt += ID_BYTES;
  return id;
}
