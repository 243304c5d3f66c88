/**
 * Builds the page bridge: concatenates the sources in bridge/ into public/pushframe.js
 * and minifies that into public/pushframe.min.js, which stays ES3 so IE6-8 parse it. Both
 * are generated, never committed: bridge/ is the one place to edit, and a copy in git
 * would go stale. `npm run build` (so `npm start` and `npm pack`) and the test setup run this.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipAsync } from '@gfx/zopfli';
import { minify, type MinifyOptions } from 'terser';
import { BRIDGE_GZIPPED, BRIDGE_MINIFIED, BRIDGE_READABLE, bridgeBanner } from '../src/http/bridge-asset';

// From dist/scripts/ the package root is two levels up; from scripts/ one.
export const ROOT = resolve(__dirname, /[\\/]dist[\\/]scripts$/.test(__dirname) ? '../..' : '..');

/**
 * The bridge's sources in order: pieces of one IIFE (head.js opens it, tail.js closes
 * it), each a concern that uses only what the pieces before it and head.js define.
 */
export const BRIDGE_SOURCES = [
  'head.js', // the IIFE, constants, defaults, shared state
  'es3.js', // small helpers for old engines: lists, options, JSON, listeners
  'origins.js', // URL origins
  'events.js', // DOM events, with the legacy listener path for IE6-8
  'lifecycle.js', // load, unload, the back-forward cache, online, the pulse
  'cross-origin.js', // postMessage from streams on another origin
  'transports.js', // htmlfile and iframe forever frames
  'polling.js', // long-poll (JSONP and XHR) and SSE
  'stream.js', // one attempt on one transport
  'connection.js', // channels, cursor, events, retries, the transport ladder
  'share.js', // one stream per browser: the leader, the bus, the relay
  'global.js', // the Pushframe object
  'tail.js', // closes the IIFE
].map((file) => `bridge/${file}`);

export function assemble(root = ROOT): string {
  return BRIDGE_SOURCES.map((file) => readFileSync(join(root, file), 'utf8')).join('\n');
}

/**
 * How the bridge is minified (scripts/bridge-sizes.ts measures with the same); a fresh
 * object each time, since terser may write into the options it is given.
 */
export function terserOptions(preamble?: string): MinifyOptions {
  return {
    // ie8 keeps what old JScript needs (quoted reserved-word keys, no named function
    // expression tricks); ecma 5 stops newer syntax from being introduced.
    ie8: true,
    ecma: 5,
    compress: { passes: 2 },
    // Members whose names end in `_` are the bridge's own (bridge/README.md): they get
    // short names. Every other name is public, on the wire, or the DOM's.
    mangle: { properties: { regex: /_$/ } },
    format: { ascii_only: true, comments: false, preamble },
  };
}

export async function minifyBridge(readable: string): Promise<string> {
  const out = await minify(readable, terserOptions(bridgeBanner(readable)));
  if (out.code === undefined) throw new Error('pushframe: terser produced no output');
  return out.code + '\n';
}

/** A server starting meanwhile reads the old file or the new one, never half of one. */
function writeAtomically(path: string, text: string | Uint8Array): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/**
 * Zopfli writes ordinary gzip, about 4% smaller than zlib's level 9; at a second per
 * build it is too slow for server start, so the build does it once.
 */
export async function gzipBridge(minified: string): Promise<Uint8Array> {
  return gzipAsync(Buffer.from(minified), { numiterations: 15 });
}

/** Writes the assembled, the minified and the gzipped bridge; returns their sizes. */
export async function buildBridge(root = ROOT): Promise<{ readable: number; minified: number; gzipped: number }> {
  const readable = assemble(root);
  const minified = await minifyBridge(readable);
  const gzipped = await gzipBridge(minified);
  // Written together once all are made: a server starting meanwhile (it checks that the
  // minified file names the readable one) would otherwise see a new one beside an old one.
  writeAtomically(join(root, BRIDGE_READABLE), readable);
  writeAtomically(join(root, BRIDGE_MINIFIED), minified);
  writeAtomically(join(root, BRIDGE_GZIPPED), gzipped);
  return { readable: Buffer.byteLength(readable), minified: Buffer.byteLength(minified), gzipped: gzipped.length };
}

if (require.main === module) {
  buildBridge().then(
    (sizes) => process.stdout.write(`bridge: ${sizes.readable} bytes -> ${BRIDGE_MINIFIED} ${sizes.minified} bytes, ${sizes.gzipped} gzipped\n`),
    (err: unknown) => {
      process.stderr.write(`bridge build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
