import type Router from 'koa-router';
import type Koa from 'koa';
import { loadBridgeAsset, chooseEncoding, type BridgeAsset } from '../bridge-asset';
import type { Deps } from '../deps';

/** A versioned URL never changes its bytes: a returning visitor asks nothing at all. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The plain URL may change with a deploy: revalidate with the ETag every time (a 304 is ~200 bytes). */
const REVALIDATE = 'public, no-cache';
const VERSION = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The bridge, minified and compressed once at start: `{prefix}/pushframe.<version>.js`
 * (immutable; the embed macro uses it) and `{prefix}/pushframe.js` (revalidated).
 */
export function bridgeRoutes(router: Router, deps: Deps): void {
  const asset = loadBridgeAsset(deps.root);
  router.get(deps.config.prefix + '/pushframe.js', (ctx) => send(ctx, asset, REVALIDATE));
  router.get(deps.config.prefix + '/pushframe.:version.js', (ctx) => {
    const version = ctx.params.version;
    if (!VERSION.test(version)) return; // not ours: 404
    // Another version (a page rendered by a node with another build, during a rolling
    // deploy) gets this build's bridge, but not as immutable under the other name.
    send(ctx, asset, version === asset.version ? IMMUTABLE : REVALIDATE);
  });
}

function send(ctx: Koa.Context, asset: BridgeAsset, cacheControl: string): void {
  const encoding = chooseEncoding(ctx.get('accept-encoding'));
  ctx.type = 'application/javascript; charset=utf-8';
  ctx.set('Cache-Control', cacheControl);
  ctx.set('Vary', 'Accept-Encoding');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('ETag', asset.etags[encoding]);
  // Already compressed: tells koa-compress, if the application uses it, to leave it be.
  (ctx as { compress?: boolean }).compress = false;
  const known = Object.values(asset.etags);
  const asked = ctx.get('if-none-match');
  // Any representation's tag will do: the script behind them is the same.
  if (asked && asked.split(',').some((t) => known.includes(t.trim().replace(/^W\//, '')))) {
    ctx.status = 304;
    return;
  }
  if (encoding !== 'identity') ctx.set('Content-Encoding', encoding);
  ctx.body = asset.bodies[encoding];
}
