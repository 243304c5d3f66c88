import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { fixedHeaders, writeHeadWith } from '../../src/http/fixed-head';

/** A response whose head is built but never sent (no connection). */
function response(httpVersion = '1.1'): ServerResponse {
  const req = new IncomingMessage(new Socket());
  req.httpVersion = httpVersion;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = Number(httpVersion.split('.')[1]);
  return new ServerResponse(req);
}

/** The head ServerResponse would send, with its Date line taken out (it changes every second). */
function head(res: ServerResponse): string {
  return String((res as ServerResponse & { _header: unknown })._header).replace(/^Date: .*\r\n/m, '');
}

const FIXED = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'self'",
  'X-Frame-Options': 'SAMEORIGIN',
};
const COOKIE = ['Set-Cookie', 'pf_browser=abc; Path=/; HttpOnly; SameSite=Lax'];

describe('writeHeadWith: fixed headers rendered once, the same head as writeHead', () => {
  it.each([
    ['no headers of its own', null],
    ['a new browser cookie', COOKIE],
    ['two cookies', [...COOKIE, 'Set-Cookie', 'other=1']],
  ])('%s', (_name, extra) => {
    for (const version of ['1.1', '1.0']) {
      const plain = response(version);
      plain.writeHead(200, [...Object.entries(FIXED).flat(), ...(extra ?? [])]);
      const fixed = response(version);
      writeHeadWith(fixed, 200, fixedHeaders(FIXED), extra);
      expect(head(fixed)).toBe(head(plain));
      expect(head(fixed)).toContain("Content-Security-Policy: default-src 'none'; frame-ancestors 'self'\r\n");
    }
  });

  it('adds to headers an application set before, and keeps every cookie', () => {
    const res = response();
    res.setHeader('X-App', 'yes');
    res.setHeader('Set-Cookie', 'app=1');
    writeHeadWith(res, 200, fixedHeaders(FIXED), COOKIE);
    const text = head(res);
    expect(text).toContain('X-App: yes\r\n');
    expect(text).toContain('Set-Cookie: app=1\r\n');
    expect(text).toContain(`Set-Cookie: ${COOKIE[1]}\r\n`);
    expect(text).toContain('X-Frame-Options: SAMEORIGIN\r\n');
  });

  it('refuses, when rendered, what writeHead would refuse', () => {
    expect(() => fixedHeaders({ 'Bad Name': 'x' })).toThrow(/header name/i);
    expect(() => fixedHeaders({ 'X-Split': 'a\r\nInjected: 1' })).toThrow(/header content/i);
  });
});
