import { parseQuery, type Query } from '../../src/http/query';

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
