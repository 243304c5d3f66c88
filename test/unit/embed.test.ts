import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as acorn from 'acorn';
import { JSDOM } from 'jsdom';
import nunjucks from 'nunjucks';
import { MemoryBroker, Hub, embedContext, usePushframeViews } from '../../src';
import { createViews } from '../../src/http/views';
import { packageRoot } from '../../src/paths';

/**
 * The embed macro writes values into a page: the src attribute through autoescaping,
 * the inline script only through the `js` filter. Hostile channel names, grants,
 * cursors and targets must come out as data, never as markup or code.
 */

const env = createViews(packageRoot());
const IMPORT = '{% from "pushframe.njk" import pushframe %}';

function render(call: string, context: object = {}): string {
  return env.renderString(`<!DOCTYPE html><html><head></head><body>${IMPORT}${call}</body></html>`, context);
}

/** Runs the page's inline script against a recording Pushframe; returns what it passed. */
function connectOptions(dom: JSDOM): Record<string, unknown>[] {
  const calls: Record<string, unknown>[] = [];
  const fake = { connect: (o: Record<string, unknown>) => (calls.push(o), { fake: true }) };
  for (const s of dom.window.document.querySelectorAll('script:not([src])')) {
    new Function('Pushframe', s.textContent ?? '')(fake);
  }
  return calls;
}

const HOSTILE = {
  channel: 'news"></script><img src=x onerror="alert(1)">',
  token: '</script><script>window.pwned=1</script><!--',
  cursor: 'k~1</SCRIPT ><svg onload=alert(1)>\u2028\u2029',
  target: '"><iframe src=javascript:alert(1)>',
  param: "'; alert(1); var x='",
};

describe('the pushframe embed macro', () => {
  it('renders one bridge script tag and one inline connect call', () => {
    const html = render(`{{ pushframe(embed=embed, target='dash') }}`, {
      embed: { url: '/pushframe', channels: ['news', 'stocks/*'], cursor: 'abc~42' },
    });
    const dom = new JSDOM(html);
    const scripts = dom.window.document.querySelectorAll('script');
    expect(scripts).toHaveLength(2);
    expect(scripts[0].getAttribute('src')).toMatch(/^\/pushframe\/pushframe\.[A-Za-z0-9_-]{12}\.js$/);
    expect(connectOptions(dom)).toEqual([
      { url: '/pushframe', channels: ['news', 'stocks/*'], since: 'abc~42', token: null, target: 'dash', transports: null, params: null, nonce: null },
    ]);
  });

  it('keeps hostile channel names, grants, cursors, targets and params out of the markup', () => {
    const html = render(
      `{{ pushframe(channels=[h.channel, 'ok'], token=h.token, cursor=h.cursor, target=h.target, params={ x: h.param }) }}`,
      { h: HOSTILE },
    );
    // Nothing that could close the script or open markup survives in the raw HTML.
    const inline = html.slice(html.indexOf('<script>'));
    expect(inline.match(/<\/script>/gi)).toHaveLength(1);
    expect(inline).not.toMatch(/<(img|svg|iframe|!--)/i);
    expect(html).not.toMatch(/[\u2028\u2029]/);

    const dom = new JSDOM(html);
    const doc = dom.window.document;
    const all = [...doc.querySelectorAll('*')].map((e) => e.tagName.toLowerCase());
    expect(all.sort()).toEqual(['body', 'head', 'html', 'script', 'script']);
    for (const e of doc.querySelectorAll('*')) {
      for (const a of e.getAttributeNames()) expect(a).not.toMatch(/^on/i);
    }
    // And the values arrive in the page exactly as given.
    const [options] = connectOptions(dom);
    expect(options.channels).toEqual([HOSTILE.channel, 'ok']);
    expect(options.token).toBe(HOSTILE.token);
    expect(options.since).toBe(HOSTILE.cursor);
    expect(options.target).toBe(HOSTILE.target);
    expect(options.params).toEqual({ x: HOSTILE.param });
  });

  it('escapes the url in the src attribute and refuses what is not a path or http(s) URL', () => {
    const html = render(`{{ pushframe(channels=['a'], url='/p"onload="alert(1)"><img') }}`);
    const dom = new JSDOM(html);
    const src = dom.window.document.querySelector('script[src]');
    expect(src?.getAttributeNames()).toEqual(['src']);
    expect(src?.getAttribute('src')).toMatch(/^\/p"onload="alert\(1\)"><img\/pushframe\.[A-Za-z0-9_-]{12}\.js$/);
    expect(dom.window.document.querySelector('img')).toBeNull();
    expect(() => render(`{{ pushframe(channels=['a'], url='/p x') }}`)).toThrow(/url must be/);
    expect(() => render(`{{ pushframe(channels=['a'], url='javascript:alert(1)') }}`)).toThrow(/url must be/);
    expect(() => render(`{{ pushframe(channels=['a'], url='//evil.example') }}`)).toThrow(/url must be/);
    const abs = new JSDOM(render(`{{ pushframe(channels=['a'], url='https://push.example.com/pushframe/') }}`));
    expect(abs.window.document.querySelector('script[src]')?.getAttribute('src')).toMatch(/^https:\/\/push\.example\.com\/pushframe\/pushframe\.[A-Za-z0-9_-]{12}\.js$/);
  });

  it('accepts only a plain identifier as the variable name', () => {
    const dom = new JSDOM(render(`{{ pushframe(channels=['a'], name='live', script=false) }}`));
    expect(dom.window.document.querySelectorAll('script')).toHaveLength(1);
    expect(dom.window.document.querySelector('script')?.textContent).toMatch(/^var live = Pushframe\.connect\(/);
    expect(() => render(`{{ pushframe(channels=['a'], name='x=alert(1);var y') }}`)).toThrow(/identifier/);
    expect(() => render(`{{ pushframe(channels=['a'], name='</script>') }}`)).toThrow(/identifier/);
  });

  it('writes an inline script that old IE can parse (ES3, no reserved words as names)', () => {
    const dom = new JSDOM(render(`{{ pushframe(channels=[h.channel], token=h.token, cursor=h.cursor) }}`, { h: HOSTILE }));
    const code = dom.window.document.querySelector('script:not([src])')?.textContent ?? '';
    expect(() => acorn.parse(code, { ecmaVersion: 3, allowReserved: 'never', sourceType: 'script' })).not.toThrow();
  });

  it("works in an application's own nunjucks environment after usePushframeViews", () => {
    const dir = mkdtempSync(join(tmpdir(), 'pushframe-views-'));
    writeFileSync(join(dir, 'page.njk'), `<p>{{ title }}</p>${IMPORT}{{ pushframe(embed=embed) }}`);
    const own = usePushframeViews(new nunjucks.Environment(new nunjucks.FileSystemLoader(dir), { autoescape: true }));
    const html = own.render('page.njk', { title: '<b>Prices</b>', embed: { url: '/pushframe', channels: ['prices'], cursor: 'e~0' } });
    const dom = new JSDOM(html);
    expect(dom.window.document.querySelector('p')?.textContent).toBe('<b>Prices</b>');
    expect(connectOptions(dom)[0]).toMatchObject({ channels: ['prices'], since: 'e~0' });
  });
});

describe('embedContext', () => {
  it('hands the page the broker position at render time', async () => {
    const broker = new MemoryBroker({ maxCount: 10, maxAgeMs: 60_000 });
    const hub = new Hub(broker, { maxMessageBytes: 1024 });
    const epoch = await broker.epoch();
    expect(await embedContext(hub, ['a', 'b/*'])).toEqual({ url: '/pushframe', channels: ['a', 'b/*'], cursor: `${epoch}~0` });
    await hub.publish('a', 1);
    await hub.publish('b/c', 2);
    expect((await embedContext(hub, ['a'], 'https://push.example.com/pushframe')).cursor).toBe(`${epoch}~2`);
    await expect(embedContext(hub, ['bad channel'])).rejects.toThrow(/not a channel pattern/);
    await expect(embedContext(hub, ['a/**/b'])).rejects.toThrow(/not a channel pattern/);
    await broker.close();
  });
});
