import http from 'node:http';
import { Socket } from 'node:net';
import { BareExchange } from '../../src/http/exchange';

function exchange(headers: Record<string, string | string[]>, preset: Record<string, string> = {}): BareExchange {
  const req = new http.IncomingMessage(new Socket());
  req.method = 'GET';
  req.headers = headers as http.IncomingHttpHeaders;
  const res = new http.ServerResponse(req);
  for (const [name, value] of Object.entries(preset)) res.setHeader(name, value);
  return new BareExchange(req, res, '/pushframe/stream', 'channels=a');
}

describe('BareExchange', () => {
  it('reads request headers as Koa does: any case, either referrer spelling, empty when absent', () => {
    const ex = exchange({ origin: 'http://a.example', referer: 'http://a.example/page', 'x-list': ['1', '2'] });
    expect(ex.get('Origin')).toBe('http://a.example');
    expect(ex.get('referrer')).toBe('http://a.example/page');
    expect(ex.get('Referer')).toBe('http://a.example/page');
    expect(ex.get('x-list')).toBe('1, 2');
    expect(ex.get('cookie')).toBe('');
    expect(ex.method).toBe('GET');
    expect(ex.secure).toBe(false);
    expect([ex.path, ex.querystring]).toEqual(['/pushframe/stream', 'channels=a']);
  });

  it('keeps the headers its checks set apart from the response, for the head or for nothing', () => {
    const ex = exchange({}, { 'X-App': 'kept', 'Set-Cookie': 'session=s' });
    expect(ex.responseHeaders).toBeNull();
    ex.append('Set-Cookie', 'a=1');
    ex.append('set-cookie', 'b=2');
    ex.set('Retry-After', '1');
    ex.set('retry-after', '2');
    // Appends add, a set replaces by name in any case: as writeHead will take them.
    expect(ex.responseHeaders).toEqual(['Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'retry-after', '2']);
    // A refused request goes on to the Koa app with the response as the application left it.
    expect(ex.res.getHeaders()).toEqual({ 'x-app': 'kept', 'set-cookie': 'session=s' });
  });
});
