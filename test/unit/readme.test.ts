import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTable } from '../../src/config';

const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');

describe('README', () => {
  it('lists every setting as the code defines it', () => {
    const m = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme);
    expect(m).not.toBeNull();
    // On failure, paste the expected table between the markers.
    expect(m![1]).toBe(configTable());
  });

  it('names the test command that .ci/run runs', () => {
    const ci = readFileSync(join(__dirname, '../../.ci/run'), 'utf8');
    expect(ci).toMatch(/^npm test$/m);
    expect(readme).toContain('```sh\nnpm test\n```');
    expect(readme).toContain('```sh\nnpm install && npm start\n```');
  });
});
