/**
 * `node dist/bench/profile.js FILE.cpuprofile [TOP]`: the functions with the most self
 * time in a V8 CPU profile (what `npm run bench -- --profile` writes), and the share
 * of each source file, so that a hot path can be read without a browser.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('/dist/');
  if (i !== -1) return url.slice(i + 6);
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 13);
  return url.replace(/^node:/, '') || '(native)';
}

function main(): void {
  const [file, topText] = process.argv.slice(2);
  if (!file) throw new Error('usage: node dist/bench/profile.js FILE.cpuprofile [TOP]');
  const top = Number(topText ?? 30);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
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
