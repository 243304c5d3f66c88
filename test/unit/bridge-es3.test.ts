import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as acorn from 'acorn';
import { PROTOCOL_VERSION } from '../../src/protocol';

const PUBLIC = join(__dirname, '..', '..', 'public');

// The readable file and the minified build the server serves (test/global-setup.ts builds it).
describe.each(['pushframe.js', 'pushframe.min.js'])('public/%s is ES3 (IE6+)', (file) => {
  const source = readFileSync(join(PUBLIC, file), 'utf8');

  it('parses as ECMAScript 3 with reserved words forbidden as names', () => {
    expect(() => acorn.parse(source, { ecmaVersion: 3, allowReserved: false, sourceType: 'script' })).not.toThrow();
  });

  // `false` still lets reserved words through as property names; "never" is the old
  // JScript parser, which rejects `{ class: 1 }` and `a.default`.
  it('parses with reserved words forbidden as property names too (old IE parser)', () => {
    expect(() => acorn.parse(source, { ecmaVersion: 3, allowReserved: 'never', sourceType: 'script' })).not.toThrow();
  });

  it('the check itself rejects what IE6-8 cannot parse', () => {
    const es3 = (code: string) => () => acorn.parse(code, { ecmaVersion: 3, allowReserved: 'never', sourceType: 'script' });
    expect(es3('var a = { b: 1, };')).toThrow();
    expect(es3('var a = { class: 1 };')).toThrow();
    expect(es3('a.default = 1;')).toThrow();
    expect(es3('let a = 1;')).toThrow();
    expect(es3('var f = () => 1;')).toThrow();
    expect(es3('var s = `x`;')).toThrow();
    expect(es3('var a = { b: 1 };')).not.toThrow();
  });

  it('is one IIFE that defines one global', () => {
    const ast = acorn.parse(source, { ecmaVersion: 3, sourceType: 'script' }) as unknown as { body: { type: string }[] };
    expect(ast.body).toHaveLength(1);
    expect(ast.body[0].type).toBe('ExpressionStatement');
    expect(source).not.toMatch(/navigator\.userAgent/);
  });

  it('ships only ASCII', () => {
    expect(/^[\x00-\x7f]*$/.test(source)).toBe(true);
  });

  it('carries the protocol version of the server', () => {
    // The minifier folds the constant into the global's `version` property.
    const m = file === 'pushframe.js' ? /var VERSION = (\d+);/.exec(source) : /\bversion:(\d+)\b/.exec(source);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(PROTOCOL_VERSION);
  });
});
