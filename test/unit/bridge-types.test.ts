import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

const TYPES = join(__dirname, '..', '..', 'public', 'pushframe.d.ts');

/**
 * Type-checks page scripts against public/pushframe.d.ts (DOM lib, strict) in one
 * program (the DOM lib is parsed once); returns the errors of each script.
 */
function check(pages: Record<string, string>): Record<string, string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pushframe-types-'));
  try {
    const files = Object.entries(pages).map(([name, code]) => {
      const file = join(dir, name + '.ts');
      // Each page a module of its own, so their declarations do not collide.
      writeFileSync(file, code + '\nexport {};\n');
      return file;
    });
    const program = ts.createProgram([...files, TYPES], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES5,
      lib: ['lib.es5.d.ts', 'lib.dom.d.ts'],
      types: [],
    });
    const out: Record<string, string[]> = {};
    for (const name of Object.keys(pages)) out[name] = [];
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const name = d.file ? d.file.fileName.slice(dir.length + 1).replace(/\.ts$/, '') : '(global)';
      (out[name] ??= []).push(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const GOOD = `
interface Quote { symbol: string; price: number }
var c = Pushframe.connect({ url: '/pushframe', channels: ['stocks/*'], since: 'k3v9~120', target: 'ticker',
  token: null, params: { lang: 'nl' }, transports: ['iframe', 'longpoll'], reprobeMs: 0 });
c.on<Quote>('stocks/*', function (q, meta) { var s: string = q.symbol + meta.channel + meta.id; q.price.toFixed(2); });
c.listen('open', function (d) { var t: string = d.transport; var n: number = d.heartbeatMs; });
c.listen('error', function (d) { var code: string = d.code; });
c.listen('reset', function (d) { d.channels.join(','); });
c.subscribe('news').unsubscribe(['news']).off('stocks/*');
var state: string = c.state; var cursor: string = c.cursor();
Pushframe.listen(document, 'pushframe:message', function (e) { var ch: string = e.detail.channel; var d: unknown = e.detail.data; });
Pushframe.listen('ticker', 'pushframe:transport', function (e) { var n: string = e.detail.name; });
document.addEventListener('pushframe:message', function (e) { var id: string = e.detail.id; });
document.body.addEventListener('pushframe:error', function (e) { var m: string = e.detail.message; });
var v: number = Pushframe.version;
c.close();
`;

describe('public/pushframe.d.ts (types for page code)', () => {
  const errors = check({
    good: GOOD,
    option: `Pushframe.connect({ chanels: ['a'] });`,
    meta: `Pushframe.connect({}).on('a', function (data, meta) { meta.chanel; });`,
    detail: `Pushframe.listen(document, 'pushframe:open', function (e) { e.detail.channel; });`,
    lifecycle: `Pushframe.connect({}).listen('open', function (d) { var n: string = d.heartbeatMs; });`,
    dom: `document.addEventListener('pushframe:message', function (e) { e.detail.price; });`,
  });

  it('types a page that uses the documented API and events', () => {
    expect(errors.good).toEqual([]);
    expect(errors['(global)'] ?? []).toEqual([]);
  });

  it('rejects what the bridge does not have', () => {
    expect(errors.option.join('\n')).toMatch(/chanels/);
    expect(errors.meta.join('\n')).toMatch(/chanel/);
    expect(errors.detail.join('\n')).toMatch(/channel/);
    expect(errors.lifecycle.join('\n')).toMatch(/number/);
    expect(errors.dom.join('\n')).toMatch(/price/);
  });
});
