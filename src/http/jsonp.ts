import type Koa from 'koa';
import { PushframeError } from '../errors';
import type { Config } from '../config';
import { client } from './client';
import { originAllowed, sameOrigin } from './origins';
import { queryOf, single } from './query';

/**
 * Names of JSONP callbacks: a member of one of the configured namespaces (by default
 * the bridge's own, `Pushframe._poll`), named the way the bridge names them
 * (`f12_k3x9_5`, `pos7`: lowercase letters, then a digit, then lowercase letters,
 * digits and `_`). No inherited or built-in member has such a name, so neither `alert`
 * nor `location.assign` nor `Pushframe._poll.constructor` can be the callback.
 */
const MEMBER = '[a-z]+[0-9][0-9a-z_]{0,62}';

export function jsonpCallbackGrammar(namespaces: readonly string[]): RegExp {
  const escaped = namespaces.map((ns) => ns.replace(/[.$]/g, (c) => '\\' + c));
  return new RegExp('^(?:' + escaped.join('|') + ')\\.' + MEMBER + '$');
}

/**
 * The origin policy for a JSONP poll. A `<script>` request carries no `Origin` header,
 * so the policy uses what the browser does send: `Sec-Fetch-Site` (whether the page is
 * another origin) and `Referer` (which one; the bridge sets `referrerpolicy="origin"` on
 * its script elements, so pages that suppress referrers still send their origin). A
 * page may claim any `origin=`, but not make its visitor's browser lie in those two.
 *
 * - `origin=`, when given, must be this host or an allowed origin.
 * - `Sec-Fetch-Site: same-origin` is a page of this server's: nothing more to check.
 * - A `Referer`, when sent, must be this host or an allowed origin, and equal `origin=`.
 * - A request the browser marks `same-site`/`cross-site`, or whose `Referer` is another
 *   origin, is cross-origin: it must send both, so it needs an allowlist that admits it.
 * - A request with neither header (a non-browser client, or a browser too old to send
 *   `Sec-Fetch-Site` whose page suppressed the referrer) cannot be placed: it is served,
 *   after the `origin=` check. docs/security.md says what that leaves open.
 */
export function checkJsonpOrigin(ctx: Koa.Context, config: Config): void {
  const allowed = config.allowedOrigins;
  const claimed = single(queryOf(ctx), 'origin');
  const own = (origin: string): boolean => sameOrigin(origin, client(ctx, config));
  const admitted = (origin: string): boolean => /^https?:\/\//.test(origin) && (own(origin) || originAllowed(origin, allowed));
  if (claimed !== undefined && !admitted(claimed)) throw new PushframeError('bad_origin');
  const site = ctx.get('sec-fetch-site');
  // The browser says the page is on this server's origin as the browser sees it, which
  // behind a proxy that rewrites Host is not what the Host header says.
  if (site === 'same-origin' || site === 'none') return;
  const referer = ctx.get('referer');
  const from = referer === '' ? undefined : originOfUrl(referer);
  if (from !== undefined) {
    if (!admitted(from)) throw new PushframeError('bad_origin', `Pages on ${from} may not read this server by JSONP.`);
    if (claimed !== undefined && claimed !== from) {
      throw new PushframeError('bad_origin', `origin= names ${claimed}, but the page is on ${from}.`);
    }
  }
  const cross = site === 'same-site' || site === 'cross-site' || (from !== undefined && !own(from));
  if (cross && (from === undefined || claimed === undefined)) {
    throw new PushframeError('bad_origin', 'A cross-origin JSONP poll must name its page in origin= and send a Referer (the bridge does both).');
  }
}

/** `scheme://host[:port]` of a URL, or `null` for one without an origin (or not a URL). */
function originOfUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'null';
  }
}
