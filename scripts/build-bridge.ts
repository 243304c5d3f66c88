/**
 * Builds the page bridge: assembles the sources into public/pushframe.js (today the
 * source is that one file) and minifies it into public/pushframe.min.js, which stays ES3
 * so IE6-8 parse it. The minified file is generated, never committed: it would go stale
 * with every change to the bridge. `npm run build` and the test setup run this.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { minify } from 'terser';
import { BRIDGE_MINIFIED, BRIDGE_READABLE, bridgeBanner } from '../src/http/bridge-asset';

// From dist/scripts/ the package root is two levels up; from scripts/ one.
const ROOT = resolve(__dirname, /[\\/]dist[\\/]scripts$/.test(__dirname) ? '../..' : '..');

/** The bridge's sources in order. Splitting the bridge changes only this list. */
export const BRIDGE_SOURCES = ['public/pushframe.js'];

export function assemble(root = ROOT): string {
  return BRIDGE_SOURCES.map((file) => readFileSync(join(root, file), 'utf8')).join('\n');
}

export async function minifyBridge(readable: string): Promise<string> {
  const out = await minify(readable, {
    // ie8 keeps what old JScript needs (quoted reserved-word keys, no named function
    // expression tricks); ecma 5 stops newer syntax from being introduced.
    ie8: true,
    ecma: 5,
    compress: { passes: 2 },
    mangle: true,
    format: { ascii_only: true, comments: false, preamble: bridgeBanner(readable) },
  });
  if (out.code === undefined) throw new Error('pushframe: terser produced no output');
  return out.code + '\n';
}

/** A server starting meanwhile reads the old file or the new one, never half of one. */
function writeAtomically(path: string, text: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/** Writes the assembled and the minified bridge; returns their sizes. */
export async function buildBridge(root = ROOT): Promise<{ readable: number; minified: number }> {
  const readable = assemble(root);
  // While the bridge is one file, it is its own source: nothing to assemble.
  const single = BRIDGE_SOURCES.length === 1 && BRIDGE_SOURCES[0] === BRIDGE_READABLE;
  if (!single) writeAtomically(join(root, BRIDGE_READABLE), readable);
  const minified = await minifyBridge(readable);
  writeAtomically(join(root, BRIDGE_MINIFIED), minified);
  return { readable: Buffer.byteLength(readable), minified: Buffer.byteLength(minified) };
}

if (require.main === module) {
  buildBridge().then(
    (sizes) => process.stdout.write(`bridge: ${sizes.readable} bytes -> ${BRIDGE_MINIFIED} ${sizes.minified} bytes\n`),
    (err: unknown) => {
      process.stderr.write(`bridge build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
