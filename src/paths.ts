import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package root (where package.json, views/ and public/ live), from src/ or dist/src/. */
export function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('pushframe: cannot find the package root above ' + __dirname);
    dir = up;
  }
  return dir;
}
