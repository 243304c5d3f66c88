import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BRIDGE_SOURCES, assemble } from '../../scripts/build-bridge';
import { bridgeSizes, decodeMappings } from '../../scripts/bridge-sizes';
import { bridgeBanner } from '../../src/http/bridge-asset';
import { BRIDGE_MIN_SOURCE, BRIDGE_SOURCE } from '../helpers/bridge';

const ROOT = join(__dirname, '..', '..');

describe('the bridge build (scripts/build-bridge.ts)', () => {
  it('assembles every file of bridge/, each once, head first and tail last', () => {
    const files = readdirSync(join(ROOT, 'bridge')).filter((f) => f.endsWith('.js')).map((f) => `bridge/${f}`);
    expect([...BRIDGE_SOURCES].sort()).toEqual(files.sort());
    expect(new Set(BRIDGE_SOURCES).size).toBe(BRIDGE_SOURCES.length);
    expect(BRIDGE_SOURCES[0]).toBe('bridge/head.js');
    expect(BRIDGE_SOURCES[BRIDGE_SOURCES.length - 1]).toBe('bridge/tail.js');
  });

  it('public/pushframe.js is the assembly of bridge/ and the minified file was made from it', () => {
    expect(BRIDGE_SOURCE).toBe(assemble(ROOT));
    expect(BRIDGE_MIN_SOURCE.startsWith(bridgeBanner(BRIDGE_SOURCE))).toBe(true);
    expect(readFileSync(join(ROOT, 'bridge', 'head.js'), 'utf8')).toMatch(/Generated: assembled from bridge\/\*\.js/);
  });

  it('renames only members that end in _: the public API, the seam and the wire keep their names', () => {
    expect(BRIDGE_MIN_SOURCE).not.toMatch(/\.[A-Za-z]\w*_\b/);
    for (const name of ['connect', 'listen', 'unlisten', '_frame', '_transports', '_poll', 'subscribe', 'unsubscribe', 'cursor', 'state', 'transport', 'sink', 'ended', 'endpoint']) {
      expect(BRIDGE_MIN_SOURCE).toMatch(new RegExp(`[.{,]${name}\\b`));
    }
  });
});

describe('the bridge size table (npm run bridge:sizes)', () => {
  it('decodes source-map mappings: generated column and source line, relative fields summed', () => {
    // AAAA = [0,0,0,0]; SAAS = [9,0,0,9]; ;AACA = next line, source line +1; gBAAgB = [16,0,0,16].
    expect(decodeMappings('AAAA,SAAS;AACA,gBAAgB')).toEqual([
      [[0, 0], [9, 0]],
      [[0, 1], [16, 1]],
    ]);
    // Negative deltas (D = -1) and segments without a source are skipped.
    expect(decodeMappings('AAEA,C;AADA')).toEqual([[[0, 2]], [[0, 1]]]);
  });

  it('credits every byte of the minified bridge to one of its modules', async () => {
    const { minified, gzip, modules } = await bridgeSizes();
    expect(modules.map((m) => m.file)).toEqual(BRIDGE_SOURCES);
    for (const m of modules) expect(m.minified).toBeGreaterThan(0);
    // Only the newlines between generated lines carry no mapping.
    const credited = modules.reduce((a, m) => a + m.minified, 0);
    expect(credited).toBeLessThanOrEqual(minified);
    expect(credited).toBeGreaterThan(minified - 50);
    const shares = modules.reduce((a, m) => a + m.gzipShare, 0);
    expect(Math.abs(shares - gzip)).toBeLessThanOrEqual(modules.length);
  });
});
