/**
 * `node dist/bench/profile.js FILE.cpuprofile [TOP] [--window first|later]`: the
 * functions with the most self time in a V8 CPU profile (what `npm run bench --
 * --profile` writes), and the share of each source file, so that a hot path can be read
 * without a browser. `--window` counts only the samples taken during the first or the
 * second half of the measured openings (FILE.window.json, written by the bench), not
 * the server's start, warm-up, rehearsal or teardown.
 */
import { existsSync, readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

type Window = Record<'first' | 'later', [number, number]>;

function shortUrl(url: string): string {
  const i = url.lastIndexOf('/dist/');
  if (i !== -1) return url.slice(i + 6);
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 13);
  return url.replace(/^node:/, '') || '(native)';
}

function main(): void {
  const args = process.argv.slice(2);
  const w = args.indexOf('--window');
  const part = w === -1 ? null : args.splice(w, 2)[1];
  const [file, topText] = args;
  if (!file || (part !== null && part !== 'first' && part !== 'later')) {
    throw new Error('usage: node dist/bench/profile.js FILE.cpuprofile [TOP] [--window first|later]');
  }
  const top = Number(topText ?? 30);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  let from = -Infinity;
  let to = Infinity;
  if (part !== null) {
    const windowFile = file + '.window.json';
    if (!existsSync(windowFile)) throw new Error(`no ${windowFile}: the scenario measured no openings`);
    [from, to] = (JSON.parse(readFileSync(windowFile, 'utf8')) as Window)[part];
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < from || at > to) continue;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of self) {
    const f = (byId.get(id) as Node).callFrame;
    const where = shortUrl(f.url);
    const key = `${f.functionName || '(anonymous)'}  ${where}${f.url ? ':' + (f.lineNumber + 1) : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byFile.set(where, (byFile.get(where) ?? 0) + us);
  }
  const show = (title: string, m: Map<string, number>): void => {
    console.log(title);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
    }
    console.log('');
  };
  console.log(`${(total / 1000).toFixed(0)} ms sampled\n`);
  show('self time by function', byFunction);
  show('self time by file', byFile);
}

main();
