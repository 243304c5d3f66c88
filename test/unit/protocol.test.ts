import {
  compareIds,
  copyCursor,
  formatCursor,
  isChannel,
  isPattern,
  lastSeen,
  matches,
  parseCursor,
  scriptJson,
  CursorError,
  messagesFrame,
  messageArgs,
  padPreamble,
} from '../../src/protocol';

describe('channel grammar', () => {
  it.each(['a', 'stocks/aex', 'user:42/alerts', 'a.b-c_d', 'x'.repeat(200), 'a/b/c/d'])('accepts %s', (name) => {
    expect(isChannel(name)).toBe(true);
  });
  it.each(['', 'x'.repeat(201), '/a', 'a/', 'a//b', 'a/../b', '..', '.', 'a/./b', 'a b', '<script>', 'é', 'a*', 'a/*', '$sys', 'a,b', 'a@b', 'a~b'])(
    'rejects %p',
    (name) => {
      expect(isChannel(name)).toBe(false);
    },
  );
  it('accepts wildcards only as the last segment of a pattern', () => {
    expect(isPattern('stocks/*')).toBe(true);
    expect(isPattern('tenant-7/**')).toBe(true);
    expect(isPattern('*')).toBe(true);
    expect(isPattern('**')).toBe(true);
    expect(isPattern('a/*/b')).toBe(false);
    expect(isPattern('a/**/b')).toBe(false);
    expect(isPattern('a*')).toBe(false);
    expect(isPattern('a/***')).toBe(false);
    expect(isChannel('a/*')).toBe(false);
  });
  it('agrees with a segment-by-segment reading of the grammar on random names', () => {
    const SEGMENT = /^[A-Za-z0-9_.:-]+$/;
    const bySegment = (name: string, wildcardTail: boolean): boolean => {
      if (name.length === 0 || name.length > 200) return false;
      const segments = name.split('/');
      return segments.every((s, i) => {
        if (wildcardTail && i === segments.length - 1 && (s === '*' || s === '**')) return true;
        return SEGMENT.test(s) && s !== '.' && s !== '..';
      });
    };
    const alphabet = ['a', 'Z', '0', '_', '.', ':', '-', '/', '*', ' ', '\n', 'é', '..', '**'];
    let seed = 7;
    const next = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const differ: string[] = [];
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      let name = '';
      for (let k = next(12); k >= 0; k--) name += alphabet[next(alphabet.length)];
      if (next(50) === 0) name = 'x'.repeat(195 + next(10)) + name.slice(0, 3);
      if (isChannel(name) !== bySegment(name, false) || isPattern(name) !== bySegment(name, true)) differ.push(name);
      if (isPattern(name)) accepted++;
    }
    expect(differ).toEqual([]);
    expect(accepted).toBeGreaterThan(500); // the names are not all refused
  });
});

describe('matching', () => {
  const cases: [string, string, boolean][] = [
    ['a', 'a', true],
    ['a', 'b', false],
    ['a/*', 'a/b', true],
    ['a/*', 'a/b/c', false],
    ['a/*', 'a', false],
    ['a/**', 'a/b', true],
    ['a/**', 'a/b/c', true],
    ['a/**', 'a', false],
    ['a/**', 'ab/c', false],
    ['a/*', 'ab/c', false],
    ['*', 'a', true],
    ['*', 'a/b', false],
    ['**', 'a/b/c', true],
  ];
  it.each(cases)('%s vs %s -> %s', (pattern, channel, expected) => {
    expect(matches(pattern, channel)).toBe(expected);
  });
});

describe('script-safe JSON', () => {
  const hostile = [
    '</script><script>alert(1)</script>',
    '<!--<script>',
    '</SCRIPT>',
    ']]>',
    '\u2028\u2029',
    '&lt;&amp;',
    '"\\',
    'é漢字😀',
  ];
  it.each(hostile)('escapes %p so it cannot leave a script element, and round-trips', (s) => {
    const out = scriptJson({ s });
    expect(out).not.toMatch(/[<>&\u2028\u2029]/);
    expect(out).toMatch(/^[\x20-\x7e]*$/);
    expect(JSON.parse(out)).toEqual({ s });
    // Also valid JavaScript with the same value.
    expect(new Function('return ' + out)()).toEqual({ s });
  });
  it('writes null for values JSON cannot represent', () => {
    expect(scriptJson(undefined)).toBe('null');
  });
});

describe('ids', () => {
  it('compares numerically, part by part', () => {
    expect(compareIds('9', '10')).toBe(-1);
    expect(compareIds('10', '9')).toBe(1);
    expect(compareIds('5', '5')).toBe(0);
    expect(compareIds('1700000000000-2', '1700000000000-10')).toBe(-1);
    expect(compareIds('1700000000001-0', '1700000000000-10')).toBe(1);
    expect(compareIds('7', '7-0')).toBe(0);
  });
});

describe('cursors', () => {
  it('parses and formats, keeping only entries past the base', () => {
    const c = parseCursor('k3v9~120,stocks/aex@131,news@100,user:42/a@121');
    expect(c.epoch).toBe('k3v9');
    expect(c.base).toBe('120');
    expect(lastSeen(c, 'stocks/aex')).toBe('131');
    expect(lastSeen(c, 'news')).toBe('120');
    expect(lastSeen(c, 'other')).toBe('120');
    expect(formatCursor(c)).toBe('k3v9~120,stocks/aex@131,user:42/a@121');
  });
  it('copies a cursor as formatting and parsing it would', () => {
    const c = parseCursor('k3v9~120,stocks/aex@131,news@100,user:42/a@121');
    const copy = copyCursor(c);
    expect(copy).toEqual(parseCursor(formatCursor(c)));
    copy.channels.set('more', '140');
    expect(c.channels.has('more')).toBe(false);
  });
  it.each(['', '~1', 'abc', 'e~x', 'e~1,a', 'e~1,@5', 'e~1,a/../b@3', 'e~1,a@x', 'é~1', 'e~1,a@1@2', 'e'.repeat(33) + '~1'])(
    'rejects %p',
    (text) => {
      expect(() => parseCursor(text)).toThrow(CursorError);
    },
  );
});

it('rejects a cursor longer than the limit', () => {
  expect(() => parseCursor('e~1,' + 'a@1,'.repeat(20_000) + 'a@1')).toThrow(/too long/);
});

describe('frames', () => {
  it('formats a message as one script element with flat triplet arguments', () => {
    const f = messagesFrame(messageArgs({ channel: 'demo', id: '7', json: '{"a":1}' }));
    expect(f).toBe('<script>p.m("demo","7",{"a":1})</script>');
  });
  it('pads a preamble to the minimum inside one comment', () => {
    const p = padPreamble('<html>', 2048);
    expect(p.length).toBe(2048);
    expect(p.endsWith('-->\n')).toBe(true);
  });
});
