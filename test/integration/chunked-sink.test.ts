import net from 'node:net';
import type { PushframeServer } from '../../src';
import { FrameScanner, HttpStreamReader, parseMessages, type Frame } from '../../bench/wire';
import { startTestServer } from '../helpers/server';

/** A raw-socket stream reader that checks the chunk framing byte by byte. */
function rawStream(server: PushframeServer, request: string): { socket: net.Socket; frames: Frame[]; text: () => string; reader: HttpStreamReader } {
  const socket = net.connect(server.port, '127.0.0.1', () => socket.write(request));
  const reader = new HttpStreamReader();
  const scanner = new FrameScanner();
  const frames: Frame[] = [];
  let raw = '';
  socket.on('data', (chunk: Buffer) => {
    raw += chunk.toString('latin1');
    if (!request.includes('HTTP/1.0')) scanner.push(reader.feed(chunk), frames);
  });
  return { socket, frames, text: () => raw, reader };
}

async function until(pred: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('streams written as raw chunks on the socket', () => {
  let server: PushframeServer;
  const sockets: net.Socket[] = [];
  afterEach(() => {
    while (sockets.length) sockets.pop()!.destroy();
  });
  afterAll(() => server?.close());

  it('frames each write as one well-formed chunk and ends with the zero chunk', async () => {
    server = await startTestServer({ heartbeatMs: 60_000, maxStreamBytes: 8192 });
    const s = rawStream(server, 'GET /pushframe/stream?channels=demo HTTP/1.1\r\nHost: x\r\n\r\n');
    sockets.push(s.socket);
    await until(() => s.frames.some((f) => f.kind === 'o'), 'the open frame');
    expect(s.reader.head?.headers.get('transfer-encoding')).toBe('chunked');
    // Past maxStreamBytes the stream ends with a reconnect frame and the terminating chunk.
    for (let i = 0; i < 10; i++) {
      await server.hub.publish('demo', { i, pad: 'x'.repeat(1000) });
      await tick();
    }
    await until(() => s.reader.ended, 'the end of the body');
    const kinds = s.frames.map((f) => f.kind);
    expect(kinds[0]).toBe('o');
    expect(kinds[kinds.length - 1]).toBe('r');
    const got = s.frames.filter((f) => f.kind === 'm').flatMap((f) => parseMessages(f.args).map((d) => (d.data as { i: number }).i));
    expect(got).toEqual(got.map((_, k) => k));
    await server.close();
  });

  it('writes an unchunked body to an HTTP/1.0 client', async () => {
    server = await startTestServer({ heartbeatMs: 60_000 });
    const s = rawStream(server, 'GET /pushframe/stream?channels=demo HTTP/1.0\r\n\r\n');
    sockets.push(s.socket);
    await until(() => s.text().includes('<script>p.o('), 'the open frame');
    await server.hub.publish('demo', { hello: 1 });
    await until(() => s.text().includes('{"hello":1})</script>'), 'the message');
    expect(s.text()).not.toMatch(/transfer-encoding/i);
    // No chunk size line between the open frame and the message.
    expect(s.text()).toMatch(/\)<\/script><script>p\.m\("demo","\d+",\{"hello":1\}\)<\/script>$/);
    await server.close();
  });

  it('holds messages while the socket is backed up and sends them all, in order, after it drains', async () => {
    server = await startTestServer({ heartbeatMs: 60_000, maxStreamBytes: 1 << 30, maxBufferedBytes: 256 << 20 });
    const s = rawStream(server, 'GET /pushframe/stream?channels=demo HTTP/1.1\r\nHost: x\r\n\r\n');
    sockets.push(s.socket);
    await until(() => s.frames.some((f) => f.kind === 'o'), 'the open frame');
    s.socket.pause();
    // Far more than loopback socket buffers hold, so the server must wait for 'drain'.
    const count = 200;
    const pad = 'y'.repeat(60_000);
    for (let i = 0; i < count; i++) {
      await server.hub.publish('demo', { i, pad });
      if (i % 10 === 0) await tick();
    }
    s.socket.resume();
    const got: number[] = [];
    await until(() => {
      for (const f of s.frames.splice(0)) if (f.kind === 'm') for (const d of parseMessages(f.args)) got.push((d.data as { i: number }).i);
      return got.length >= count;
    }, `${count} messages`, 15_000);
    expect(got).toEqual(Array.from({ length: count }, (_, k) => k));
    await server.close();
  });

  it('cuts a consumer that falls too far behind', async () => {
    server = await startTestServer({ heartbeatMs: 60_000, maxStreamBytes: 1 << 30, maxBufferedBytes: 16 * 1024 });
    const s = rawStream(server, 'GET /pushframe/stream?channels=demo HTTP/1.1\r\nHost: x\r\n\r\n');
    sockets.push(s.socket);
    await until(() => s.frames.some((f) => f.kind === 'o'), 'the open frame');
    s.socket.pause();
    let closed = false;
    s.socket.on('close', () => (closed = true));
    const pad = 'z'.repeat(60_000);
    for (let i = 0; i < 400 && server.stats().connections.total > 0; i++) {
      await server.hub.publish('demo', { i, pad });
      await tick();
    }
    s.socket.resume();
    await until(() => closed, 'the server to close the socket');
    await server.close();
  });
});
