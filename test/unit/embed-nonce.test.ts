import { JSDOM } from 'jsdom';
import { createViews } from '../../src/http/views';
import { packageRoot } from '../../src/paths';

/** The embed macro's `nonce`: on both script tags, as an attribute value, never as markup. */
const env = createViews(packageRoot());
const render = (call: string, context: object = {}): string =>
  env.renderString(`<!DOCTYPE html><html><body>{% from "pushframe.njk" import pushframe %}${call}</body></html>`, context);

describe('embed macro nonce', () => {
  it('puts the page nonce on the bridge tag and the inline script', () => {
    const html = render(`{{ pushframe(channels=['a'], nonce=n) }}`, { n: 'r4nd0m+N0nce/==' });
    const scripts = [...new JSDOM(html).window.document.querySelectorAll('script')];
    expect(scripts).toHaveLength(2);
    for (const s of scripts) expect(s.getAttribute('nonce')).toBe('r4nd0m+N0nce/==');
  });

  it('writes no attribute without one', () => {
    const html = render(`{{ pushframe(channels=['a']) }}`);
    expect(html).not.toContain('nonce=');
    expect(new JSDOM(html).window.document.querySelectorAll('script[nonce]')).toHaveLength(0);
  });

  it('keeps a hostile nonce inside the attribute', () => {
    const hostile = '"><script>alert(1)</script>';
    const html = render(`{{ pushframe(channels=['a'], nonce=n) }}`, { n: hostile });
    expect(html).not.toContain(hostile);
    const doc = new JSDOM(html).window.document;
    expect(doc.querySelectorAll('script')).toHaveLength(2);
    expect(doc.querySelector('script')?.getAttribute('nonce')).toBe(hostile);
  });
});

describe('embed macro nonce reaches connect()', () => {
  it('passes the nonce to Pushframe.connect, so the long-poll scripts carry it too', () => {
    const html = render(`{{ pushframe(channels=['a'], nonce=n) }}`, { n: 'r4nd0m+N0nce/==' });
    const calls: Record<string, unknown>[] = [];
    const inline = new JSDOM(html).window.document.querySelector('script:not([src])');
    new Function('Pushframe', inline?.textContent ?? '')({ connect: (o: Record<string, unknown>) => calls.push(o) });
    expect(calls).toHaveLength(1);
    expect(calls[0].nonce).toBe('r4nd0m+N0nce/==');
  });
});
