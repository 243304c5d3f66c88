import type { PushframeServer } from '../../src';
import { startTestServer } from '../helpers/server';
import { StreamClient } from '../helpers/stream-client';

/**
 * A stream takes its socket from Node's HTTP server once its head is sent; the socket
 * budget counts that socket until it closes, so streams that come and go leave the
 * count where it was.
 */
describe('socket budget across the stream hand-over', () => {
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  async function clientSockets(): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = /^pushframe_client_sockets (\d+)$/m.exec(text);
    if (!line) throw new Error('no pushframe_client_sockets in /metrics');
    return Number(line[1]);
  }

  it('counts released stream sockets while open and frees them when they close', async () => {
    const before = await clientSockets();
    const clients = await Promise.all(
      Array.from({ length: 30 }, () => StreamClient.open(`${server.url}/pushframe/stream?channels=budget`)),
    );
    await Promise.all(clients.map((c) => c.waitForFrame('o')));
    expect(await clientSockets()).toBeGreaterThanOrEqual(before + 30);
    for (const c of clients) c.close();
    const deadline = Date.now() + 5000;
    let now = await clientSockets();
    while (now > before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      now = await clientSockets();
    }
    expect(now).toBeLessThanOrEqual(before);
  });
});
