import type { PushframeServer } from '../../src';
import { startBufferingProxy, type BufferingProxy } from '../helpers/buffering-proxy';
import { startTestServer } from '../helpers/server';
import { StreamClient } from '../helpers/stream-client';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface PollJson {
  cursor: string;
  messages: [string, string, unknown][];
  resets: string[];
}

/**
 * Behind a proxy that delivers responses only when they complete, the forever frame
 * shows nothing, while the long-poll cycle delivers every message, in order.
 */
describe('behind a buffering proxy', () => {
  let server: PushframeServer;
  let proxy: BufferingProxy;

  beforeAll(async () => {
    server = await startTestServer({ heartbeatMs: 200, pollTimeoutMs: 1000 });
    proxy = await startBufferingProxy(server.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });

  it('shows nothing of the forever frame, not even headers or heartbeats', async () => {
    const direct = await StreamClient.open(`${server.url}/pushframe/stream?channels=bp/a`);
    let headers = false;
    const viaProxy = StreamClient.open(`${proxy.url}/pushframe/stream?channels=bp/a`).then(
      (c) => {
        headers = true;
        return c;
      },
      () => null,
    );
    await direct.waitForFrame('o');
    await server.hub.publish('bp/a', 'x');
    await direct.waitForMessages(1);
    await sleep(1000);
    expect(headers).toBe(false);
    direct.close();
    void viaProxy.then((c) => c?.close());
    expect(proxy.requests.get('/pushframe/stream')).toBe(1);
  });

  it('delivers every message in order through the long-poll cycle, within seconds', async () => {
    const first = (await (await fetch(`${proxy.url}/pushframe/poll?channels=bp/poll`)).json()) as PollJson;
    let cursor = first.cursor;
    const sent: string[] = [];
    let publishing = true;
    // A publisher at ~50 messages/s for 1.5 s, racing the polls.
    const publisher = (async () => {
      for (let i = 0; i < 75; i++) {
        sent.push(await server.hub.publish('bp/poll', i));
        await sleep(20);
      }
      publishing = false;
    })();
    const got: string[] = [];
    const t0 = Date.now();
    let polls = 0;
    while ((publishing || got.length < 75) && Date.now() - t0 < 10_000) {
      const res = await fetch(`${proxy.url}/pushframe/poll?channels=bp/poll&since=${encodeURIComponent(cursor)}`);
      expect(res.headers.get('via')).toBe('1.1 buffering-proxy');
      const json = (await res.json()) as PollJson;
      polls++;
      expect(json.resets).toEqual([]);
      got.push(...json.messages.map((m) => m[1]));
      cursor = json.cursor;
    }
    await publisher;
    expect(got).toEqual(sent);
    expect(Date.now() - t0).toBeLessThan(5000);
    // No busy loop: at most one poll per message, plus the one that waits for the next.
    expect(polls).toBeLessThanOrEqual(76);
  });
});
