import nunjucks from 'nunjucks';
import { join } from 'node:path';
import type { Hub } from '../hub';
import { packageRoot } from '../paths';
import { isPattern, scriptJson } from '../protocol';
import { loadBridgeAsset } from './bridge-asset';

/** What the `pushframe` macro needs from the server to render one page. */
export interface EmbedContext {
  /** Base URL of the pushframe endpoints (the configured prefix, or an absolute URL). */
  url: string;
  channels: string[];
  /** `epoch~position` at render time: the page resumes from here, so nothing published
   * between rendering and connecting is lost. */
  cursor: string;
}

/**
 * What the `pushframe_url` filter lets through: a path on this host (`/pushframe`) or an
 * absolute http(s) URL. Browsers read `\` as `/` and drop tabs and newlines inside URLs,
 * so `/\evil.com` or `/<tab>/evil.com` would be the scheme-relative `//evil.com`: no
 * backslash, whitespace or control character anywhere, and a path never starts with two
 * slashes.
 */
const EMBED_URL = /^(\/(?![\/\\])|https?:\/\/[A-Za-z0-9[])[^\\\s\u0000-\u001f\u007f]*$/;

export function isEmbedUrl(value: unknown): value is string {
  return typeof value === 'string' && EMBED_URL.test(value);
}

/** Global names the macro may assign the connection to: plain identifiers only. */
const IDENTIFIER = /^[A-Za-z_$][\w$]{0,63}$/;

/**
 * The context for `{{ pushframe(embed=embed) }}`: the channels to subscribe and a cursor
 * taken from the broker now. Take it before reading the state the page shows, so that
 * anything published after that read arrives through the stream.
 */
export async function embedContext(hub: Hub, channels: readonly string[], url = '/pushframe'): Promise<EmbedContext> {
  for (const c of channels) {
    if (!isPattern(c)) throw new TypeError(`pushframe: "${String(c)}" is not a channel pattern`);
  }
  const epoch = await hub.broker.epoch();
  const position = await hub.broker.position();
  return { url, channels: [...channels], cursor: epoch + '~' + position };
}

/** The folder holding pushframe's nunjucks views (`pushframe.njk` has the embed macro). */
export function viewsPath(): string {
  return join(packageRoot(), 'views');
}

/** Adds the filters pushframe's views use to a nunjucks environment. */
export function addPushframeFilters(env: nunjucks.Environment): nunjucks.Environment {
  // Script-safe JSON: the only way values enter the inline script.
  env.addFilter('js', (value: unknown) => new nunjucks.runtime.SafeString(scriptJson(value)));
  env.addFilter('pushframe_ident', (value: unknown) => {
    if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
      throw new TypeError('pushframe: the variable name must be a plain JavaScript identifier');
    }
    return new nunjucks.runtime.SafeString(value);
  });
  env.addFilter('pushframe_url', (value: unknown) => {
    // Autoescaping then makes it safe inside the attribute.
    if (!isEmbedUrl(value)) {
      throw new TypeError('pushframe: url must be a path like /pushframe or an http(s) URL');
    }
    return value.replace(/\/+$/, '');
  });
  // The bridge's versioned, immutable file name (`pushframe.<version>.js`), read when first rendered.
  env.addGlobal('pushframe_bridge', () => loadBridgeAsset(packageRoot()).fileName);
  return env;
}

/**
 * Makes an application's nunjucks environment able to `{% from "pushframe.njk" import
 * pushframe %}`: adds pushframe's views folder as a last search path, and its filters.
 * Autoescaping must stay on (the nunjucks default): the macro relies on it for attributes.
 */
export function usePushframeViews(env: nunjucks.Environment): nunjucks.Environment {
  const loaders = (env as unknown as { loaders: nunjucks.ILoader[] }).loaders;
  const loader = new nunjucks.FileSystemLoader(viewsPath());
  // Loaders given to the constructor get their template cache there; this one needs its own.
  (loader as unknown as { cache: Record<string, unknown> }).cache = {};
  loaders.push(loader);
  return addPushframeFilters(env);
}
