import { resolveConfig } from '../../src/config';
import { parseChannelList, parseQuery, type Query } from '../../src/http/query';
import { authorize } from '../../src/http/subscribe';

/** What URLSearchParams makes of a query string, repeated names as arrays. */
function reference(querystring: string): Query {
  const out: Query = new Map();
  for (const [name, value] of new URLSearchParams(querystring)) {
    const had = out.get(name);
    if (had === undefined) out.set(name, value);
    else if (Array.isArray(had)) had.push(value);
    else out.set(name, [had, value]);
  }
  return out;
}

describe('parseQuery', () => {
  it.each([
    '',
    'channels=news',
    'channels=news%2Cstocks%2F*&since=e~1.2&t=iframe&f=pf_1',
    'a=1&a=2&a=3&b',
    '&&a=&=x&b==c&',
    'q=a+b%20c%2Bd',
    'bad=%zz%2&half=%E2%82&ok=%E2%82%AC&tail=%',
    'name%3D=v%26w',
    'latin=\u00e9\u00ff&emoji=%F0%9F%98%80',
    'mixed=%41%zz%42+%C3%A9',
  ])('reads %j as URLSearchParams does', (q) => {
    expect(parseQuery(q)).toEqual(reference(q));
  });

  // ASCII, as a request target is (RFC 9112). Where raw non-ASCII meets a broken escape
  // (`\u00e9%F2\u00e9`), Node's URLSearchParams replaces more than the WHATWG decoder
  // does; parseQuery decodes as the standard says.
  it('agrees with URLSearchParams on random ASCII query strings, malformed escapes included', () => {
    const alphabet = ['a', 'b', '=', '&', '%', '+', '2', 'F', 'C', '3', 'E', '8', '0', 'z', 'A', '*', '/'];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      let q = '';
      for (let j = random(24); j > 0; j--) q += alphabet[random(alphabet.length)];
      expect([q, parseQuery(q)]).toEqual([q, reference(q)]);
    }
  });
});

describe('parseChannelList', () => {
  const channels = (text: string): Query => new Map([['channels', text]]);

  it('checks a list once: the same text gives the same checked list', () => {
    const first = parseChannelList(channels('news,stocks/*,news'), 10);
    expect(first.patterns).toEqual(['news', 'stocks/*']);
    expect(first.grantRefs).toBe(false);
    expect(parseChannelList(channels('news,stocks/*,news'), 10)).toBe(first);
    expect(parseChannelList(channels('a!0,b!1'), 10)).toMatchObject({ patterns: ['a', 'b'], grantRefs: true });
  });

  it('refuses a remembered list past a smaller limit, and a bad list every time', () => {
    parseChannelList(channels('a,b,c'), 10);
    expect(() => parseChannelList(channels('a,b,c'), 2)).toThrow(expect.objectContaining({ code: 'too_many_channels' }));
    for (let i = 0; i < 2; i++) expect(() => parseChannelList(channels('a,b c'), 10)).toThrow(expect.objectContaining({ code: 'bad_pattern' }));
  });

  it("asks each configuration's private channels of a remembered list", () => {
    const { patterns } = parseChannelList(channels('news,private/x'), 10);
    const strict = resolveConfig({ privateChannels: ['private/**'], secret: 's'.repeat(32) });
    const open = resolveConfig({ privateChannels: [] });
    expect(() => authorize(patterns, undefined, strict, Date.now())).toThrow(expect.objectContaining({ code: 'bad_grant' }));
    expect(authorize(patterns, undefined, open, Date.now())).toBeUndefined();
    expect(() => authorize(patterns, undefined, strict, Date.now())).toThrow(expect.objectContaining({ code: 'bad_grant' }));
  });

  it('does not keep a long list', () => {
    const long = Array.from({ length: 200 }, (_, i) => 'channel' + i).join(',');
    expect(parseChannelList(channels(long), 500)).not.toBe(parseChannelList(channels(long), 500));
  });
});
