import { ensureBuilt, startCli, type CliServer } from '../helpers/child';
import { errorCode, rawExchange } from '../helpers/http';
import { expectResponsive, startHealthzProbe } from '../helpers/latency';
import { MAX_QUERY_PARAMS, parseQuery } from '../../src/http/query';

/**
 * Query strings are bounded before they are parsed and parsed in one pass: thousands of
 * repeated names (quadratic in a getAll()-per-name parser) cannot stall the process.
 */

/** ~15 KB: under the default 16 KiB header limit, so only the parameter count refuses it. */
const REPEATED = 'x&'.repeat(7400) + 'channels=a';
const ATTACKERS = 4;
/** Each attacker loops this long (at most MAX_REQUESTS_EACH requests). */
const ATTACK_MS = 2_500;
const MAX_REQUESTS_EACH = 200;

let server: CliServer;

beforeAll(async () => {
  await ensureBuilt();
  server = await startCli({});
}, 120_000);

afterAll(() => {
  server?.child.kill('SIGKILL');
});

function port(): number {
  return Number(new URL(server.url).port);
}

it('refuses thousands of repeated parameters with 414 JSON while /healthz stays fast (default settings)', async () => {
  const probe = startHealthzProbe(server.url);
  await probe.ready;
  const answers: string[] = [];
  await Promise.all(
    Array.from({ length: ATTACKERS }, async () => {
      const until = Date.now() + ATTACK_MS;
      for (let i = 0; i < MAX_REQUESTS_EACH && Date.now() < until; i++) {
        const r = await rawExchange(port(), `GET /pushframe/poll?${REPEATED} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 10_000);
        answers.push(r.text);
      }
    }),
  );
  const times = await probe.stop();
  expect(answers.length).toBeGreaterThanOrEqual(ATTACKERS);
  for (const text of answers) {
    expect(text).toMatch(/^HTTP\/1\.1 414 /);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(errorCode(body)).toBe('query_too_large');
    expect(body).not.toContain('x&x');
  }
  expect(times.length).toBeGreaterThan(0);
  expectResponsive(times);
  // The process is still answering ordinary requests.
  const ok = await fetch(`${server.url}/pushframe/poll?channels=a`);
  expect(ok.status).toBe(200);
}, 60_000);

it(`takes up to ${MAX_QUERY_PARAMS} parameters and a query at the header limit`, async () => {
  const fine = Array.from({ length: MAX_QUERY_PARAMS - 1 }, (_, i) => `z${i}=1`).join('&') + '&channels=a';
  expect((await fetch(`${server.url}/pushframe/poll?${fine}`)).status).toBe(200);
  const tooMany = fine + '&one=more';
  const r = await fetch(`${server.url}/pushframe/poll?${tooMany}`);
  expect(r.status).toBe(414);
  expect(((await r.json()) as { error: { code: string } }).error.code).toBe('query_too_large');
});

it('parses repeated names into arrays in one pass', () => {
  const q = parseQuery('a=1&b=2&a=3&a=4&c=%zz&d=x+y');
  expect(q.get('a')).toEqual(['1', '3', '4']);
  expect(q.get('b')).toBe('2');
  expect(q.get('c')).toBe('%zz');
  expect(q.get('d')).toBe('x y');
  // Names are data, never properties: nothing inherited answers for them.
  expect(parseQuery('__proto__=1').get('__proto__')).toBe('1');
  expect(parseQuery('a=1').get('constructor')).toBeUndefined();
});
