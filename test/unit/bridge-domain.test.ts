import { JSDOM } from 'jsdom';
import { loadBridge, streamParams } from '../helpers/bridge';

/** The legacy document.domain path needs a page on a subdomain: a jsdom page of its own. */
describe('bridge: document.domain opt-in', () => {
  it('sets document.domain, asks the stream to do the same, and binds frames directly', async () => {
    const dom = new JSDOM('<!DOCTYPE html><body></body>', { url: 'http://www.example.test/', runScripts: 'dangerously' });
    try {
      const pf = loadBridge(dom.window as unknown as Window);
      const c = pf.connect({ url: 'http://push.example.test/pushframe', channels: ['a'], documentDomain: 'example.test' });
      await new Promise((resolve) => dom.window.setTimeout(resolve, 5));
      const iframe = dom.window.document.getElementsByTagName('iframe')[0];
      const q = streamParams(iframe);
      expect(iframe.src.startsWith('http://push.example.test/pushframe/stream?')).toBe(true);
      expect(q.origin).toBeUndefined(); // no postMessage on this path
      expect(q.d).toBe('example.test');
      expect(dom.window.document.domain).toBe('example.test'); // jsdom has no setter: this is the bridge's write
      expect(pf._frame(q.f)).not.toBeNull();
      c.close();
    } finally {
      dom.window.close();
    }
  });

  it('is not used unless asked: another subdomain is another origin', async () => {
    const dom = new JSDOM('<!DOCTYPE html><body></body>', { url: 'http://www.example.test/', runScripts: 'dangerously' });
    try {
      const pf = loadBridge(dom.window as unknown as Window);
      const c = pf.connect({ url: 'http://push.example.test/pushframe', channels: ['a'] });
      await new Promise((resolve) => dom.window.setTimeout(resolve, 5));
      const q = streamParams(dom.window.document.getElementsByTagName('iframe')[0]);
      expect(q.origin).toBe('http://www.example.test');
      expect(q.d).toBeUndefined();
      expect(() => pf.connect({ channels: ['a'], documentDomain: 'x"y' })).toThrow(/documentDomain/);
      c.close();
    } finally {
      dom.window.close();
    }
  });
});
