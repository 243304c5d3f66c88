import * as acorn from 'acorn';
import { JSDOM } from 'jsdom';
import { startServer, type PushframeServer } from '../../src';

/**
 * The demo dashboard as HTML: rendered on the server with real figures and the embed
 * cursor, hostile messages escaped, its inline scripts parseable by old IE, and the
 * demo publish route validating its input.
 */

describe('the demo dashboard page', () => {
  let server: PushframeServer;

  beforeAll(async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', demo: true, statsIntervalMs: 0, publishKey: 'the-secret-key' });
  });
  afterAll(() => server.close());

  async function page(): Promise<{ html: string; dom: JSDOM }> {
    const res = await fetch(server.url + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    return { html, dom: new JSDOM(html) };
  }

  it('renders figures, the ticker and a cursor at render time; never the publish key', async () => {
    await server.hub.publish('demo/chat', { name: '<img src=x onerror=alert(1)>', text: '</script><script>alert(2)</script>', at: 0 });
    await server.hub.publish('demo/evil', { '<b>k</b>': '<iframe src="javascript:alert(3)">' });
    const { html, dom } = await page();
    const doc = dom.window.document;
    expect(doc.querySelector('img, iframe, #ticker b')).toBeNull();
    expect(doc.querySelectorAll('script')).toHaveLength(3);
    const ticker = doc.getElementById('ticker')?.textContent ?? '';
    expect(ticker).toContain('</script><script>alert(2)</script>');
    expect(ticker).toContain('<b>k</b>: <iframe src="javascript:alert(3)">');
    expect(doc.getElementById('fig-connections')?.textContent).toMatch(/^\d+$/);
    expect(doc.getElementById('fig-rss')?.textContent).toMatch(/^[\d.]+ (B|KiB|MiB|GiB)$/);
    expect(html).not.toContain('the-secret-key');
    expect(doc.querySelector('.hint code')?.textContent).toContain('Bearer $PUSHFRAME_PUBLISH_KEY');

    // The embed cursor is the broker position when the page was rendered.
    const epoch = await server.hub.broker.epoch();
    const position = await server.hub.broker.position();
    const calls: Record<string, unknown>[] = [];
    const inline = [...doc.querySelectorAll('script:not([src])')].map((s) => s.textContent ?? '');
    new Function('Pushframe', inline[0])({ connect: (o: Record<string, unknown>) => calls.push(o) });
    expect(calls[0]).toMatchObject({ url: '/pushframe', channels: ['_sys/stats', 'demo/**'], since: `${epoch}~${position}`, target: 'dashboard' });
    expect(doc.querySelector('script[src]')?.getAttribute('src')).toMatch(/^\/pushframe\/pushframe\.[A-Za-z0-9_-]{12}\.js$/);
  });

  it('has inline scripts that IE6-8 can parse (ES3, reserved words never as names)', async () => {
    const { dom } = await page();
    const inline = [...dom.window.document.querySelectorAll('script:not([src])')].map((s) => s.textContent ?? '');
    expect(inline).toHaveLength(2);
    for (const code of inline) {
      expect(() => acorn.parse(code, { ecmaVersion: 3, allowReserved: 'never', sourceType: 'script' })).not.toThrow();
    }
  });

  it('runs its page script in jsdom: a stats message updates the figures and the chart', async () => {
    const { html } = await page();
    // No bridge here: a stand-in that records handlers, so the page script can be driven.
    const dom = new JSDOM(html.replace(/<script src="[^"]*"><\/script>/, ''), { runScripts: 'outside-only' });
    const w = dom.window as unknown as { eval(code: string): unknown; Pushframe: unknown; pf: unknown };
    const handlers: Record<string, (data: unknown, meta: unknown) => void> = {};
    w.Pushframe = {
      connect: () => ({ on: (p: string, fn: (d: unknown, m: unknown) => void) => (handlers[p] = fn), listen: () => undefined }),
      listen: () => undefined,
    };
    for (const s of dom.window.document.querySelectorAll('script')) w.eval(s.textContent ?? '');
    const doc = dom.window.document;
    expect(doc.getElementById('state')?.textContent).toBe('connecting');
    const points = doc.getElementById('chart-in-line')?.getAttribute('points');
    handlers['_sys/stats'](
      {
        at: 0, uptimeSeconds: 3725, connections: { total: 7, byTransport: { iframe: 5, htmlfile: 2 } },
        messages: { in: 12345, out: 9 }, rates: { in: 42.5, out: 170, bytesOut: 3 * 1048576 },
        bytes: { out: 2048 }, memory: { rss: 50 * 1048576, heapUsed: 20 * 1048576 },
      },
      { channel: '_sys/stats', id: '1' },
    );
    expect(doc.getElementById('fig-connections')?.textContent).toBe('7');
    expect(doc.getElementById('fig-transports')?.textContent).toBe('iframe 5 htmlfile 2 ');
    expect(doc.getElementById('fig-rate-in')?.textContent).toBe('42.5');
    expect(doc.getElementById('fig-rate-out')?.textContent).toBe('170');
    expect(doc.getElementById('fig-bytes')?.textContent).toBe('3.0 MiB');
    expect(doc.getElementById('fig-rss')?.textContent).toBe('50.0 MiB');
    expect(doc.getElementById('fig-uptime')?.textContent).toBe('1h 2m');
    expect(doc.getElementById('chart-max')?.textContent).toBe('200');
    expect(doc.getElementById('chart-in-line')?.getAttribute('points')).not.toBe(points);
    handlers['demo/**']({ name: 'Eve', text: '<img src=x>' }, { channel: 'demo/chat', id: '2' });
    expect(doc.querySelector('#ticker li')?.textContent).toBe('demo/chatEve<img src=x>');
    expect(doc.querySelector('#ticker img')).toBeNull();
  });

  it('with a publish key set, shows no form and takes demo posts only with the key', async () => {
    const doc = (await page()).dom.window.document;
    expect(doc.getElementById('publish')).toBeNull();
    expect(doc.getElementById('publish-locked')?.textContent).toContain('publish key');
    const body = JSON.stringify({ name: 'Mallory', text: 'no key' });
    const refused = await fetch(server.url + '/demo/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as any).error.code).toBe('unauthorized');
  });

  it('validates what the demo form publishes', async () => {
    const post = (type: string, body: string): Promise<Response> =>
      fetch(server.url + '/demo/publish', {
        method: 'POST',
        headers: { 'content-type': type, accept: 'application/json', authorization: 'Bearer the-secret-key' },
        body,
      });
    expect((await post('application/x-www-form-urlencoded', 'text=')).status).toBe(400);
    expect((await post('application/x-www-form-urlencoded', 'text=' + 'x'.repeat(281))).status).toBe(400);
    expect((await post('application/x-www-form-urlencoded', 'name=' + 'n'.repeat(33) + '&text=hi')).status).toBe(400);
    expect((await post('text/plain', 'hi')).status).toBe(415);
    expect((await post('application/json', '{"text":')).status).toBe(400);
    expect((await post('application/json', '"just a string"')).status).toBe(400);
    const ok = await post('application/json', JSON.stringify({ name: 'Bo', text: 'hi' }));
    expect(ok.status).toBe(202);
    expect(await ok.json()).toEqual({ id: expect.any(String) });
  });

  it('is not served when demo is off', async () => {
    const plain = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', demo: false, statsIntervalMs: 0 });
    try {
      expect((await fetch(plain.url + '/')).status).toBe(404);
      expect((await fetch(plain.url + '/demo/publish', { method: 'POST' })).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
