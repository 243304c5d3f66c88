import { JSDOM } from 'jsdom';
import { loadBridge, streamParams } from '../helpers/bridge';

/** The stream starts after the page's load event, which jsdom fires asynchronously. */
async function streamFrame(dom: JSDOM): Promise<HTMLIFrameElement> {
  for (let i = 0; i < 200; i++) {
    const iframe = dom.window.document.getElementsByTagName('iframe')[0];
    if (iframe) return iframe;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no stream frame within 2 s');
}

/** The legacy document.domain path needs a page on a subdomain: a jsdom page of its own. */
describe('bridge: document.domain opt-in', () => {
  it('sets document.domain, asks the stream to do the same, and binds frames directly', async () => {
    const dom = new JSDOM('<!DOCTYPE html><body></body>', { url: 'http://www.example.test/', runScripts: 'dangerously' });
    try {
      const pf = loadBridge(dom.window as unknown as Window);
      const c = pf.connect({ url: 'http://push.example.test/pushframe', channels: ['a'], documentDomain: 'example.test' });
      const iframe = await streamFrame(dom);
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
      const q = streamParams(await streamFrame(dom));
      expect(q.origin).toBe('http://www.example.test');
      expect(q.d).toBeUndefined();
      expect(() => pf.connect({ channels: ['a'], documentDomain: 'x"y' })).toThrow(/documentDomain/);
      c.close();
    } finally {
      dom.window.close();
    }
  });
});
