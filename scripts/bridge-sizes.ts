/**
 * What each source module of the bridge costs a page: its share of the minified file,
 * and of that file gzipped. `npm run bridge:sizes` prints the table; the decision what
 * to trim starts from it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';
import { BRIDGE_SOURCES, ROOT, terserOptions } from './build-bridge';

export interface ModuleSize {
  file: string;
  readable: number;
  minified: number;
  /** Its part of the gzipped file: gzip sizes of the modules' minified text alone, scaled to sum to the total. */
  gzipShare: number;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Source-map `mappings` as [generated column, source line] per segment, per generated line. */
export function decodeMappings(mappings: string): [number, number][][] {
  const lines: [number, number][][] = [];
  let sourceLine = 0;
  for (const line of mappings.split(';')) {
    const segments: [number, number][] = [];
    let column = 0;
    for (const segment of line.split(',')) {
      if (!segment) continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of segment) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += fields[0];
      if (fields.length >= 4) {
        sourceLine += fields[2];
        segments.push([column, sourceLine]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

const gzipSize = (text: string): number => gzipSync(text, { level: 9 }).length;

/** Minifies the assembled bridge as the build does (less the banner) and credits each output byte to its module. */
export async function bridgeSizes(root = ROOT): Promise<{ minified: number; gzip: number; modules: ModuleSize[] }> {
  const texts = BRIDGE_SOURCES.map((file) => readFileSync(join(root, file), 'utf8'));
  const firstLine: number[] = [];
  let line = 0;
  for (const text of texts) {
    firstLine.push(line);
    line += text.split('\n').length; // the join's newline ends each module's last line
  }
  const moduleOf = (sourceLine: number): number => {
    let m = 0;
    while (m + 1 < firstLine.length && firstLine[m + 1] <= sourceLine) m++;
    return m;
  };
  const out = await minify(texts.join('\n'), { ...terserOptions(), sourceMap: {} });
  if (out.code === undefined || typeof out.map !== 'string') throw new Error('pushframe: terser produced no output');
  const code = out.code;
  const parts: string[][] = texts.map(() => []);
  const generated = code.split('\n');
  decodeMappings((JSON.parse(out.map) as { mappings: string }).mappings).forEach((segments, i) => {
    segments.forEach(([column, sourceLine], k) => {
      const end = k + 1 < segments.length ? segments[k + 1][0] : generated[i].length;
      parts[moduleOf(sourceLine)].push(generated[i].slice(column, end));
    });
  });
  const gzip = gzipSize(code);
  const alone = parts.map((p) => (p.length ? gzipSize(p.join('')) : 0));
  const sum = alone.reduce((a, b) => a + b, 0);
  const modules = BRIDGE_SOURCES.map((file, i) => ({
    file,
    readable: Buffer.byteLength(texts[i]),
    minified: parts[i].join('').length,
    gzipShare: Math.round((alone[i] * gzip) / sum),
  }));
  return { minified: code.length, gzip, modules };
}

if (require.main === module) {
  bridgeSizes().then(
    ({ minified, gzip, modules }) => {
      const row = (a: string, b: number | string, c: number | string, d: number | string) =>
        `${a.padEnd(24)}${String(b).padStart(9)}${String(c).padStart(10)}${String(d).padStart(8)}\n`;
      let text = row('module', 'readable', 'minified', 'gzip');
      for (const m of modules) text += row(m.file, m.readable, m.minified, m.gzipShare);
      text += row('total (zlib -9)', modules.reduce((a, m) => a + m.readable, 0), minified, gzip);
      process.stdout.write(text);
    },
    (err: unknown) => {
      process.stderr.write(`bridge sizes failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
