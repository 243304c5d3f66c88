import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { applyStreamSettings, createPushframe, streamServerOptions } from '../../src';
import { startTestServer } from '../helpers/server';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Waits until `done()` holds (bounded): a loaded machine may take longer than a fixed pause. */
async function until(done: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

async function collect(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('keeps no Koa context alive for the life of a stream opened through the Koa middleware', async () => {
  // pushframe's own server opens streams without Koa; an application's Koa app goes through the route.
  const push = await createPushframe({ logLevel: 'silent', statsIntervalMs: 0 });
  const app = new Koa();
  app.use(push.middleware());
  const refs: WeakRef<Koa.Context>[] = [];
  const create = app.createContext.bind(app);
  app.createContext = (req, res) => {
    const ctx = create(req, res);
    refs.push(new WeakRef(ctx));
    return ctx;
  };
  const server = applyStreamSettings(http.createServer(streamServerOptions(push.config), app.callback()), push.config);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const req = http.get(`http://127.0.0.1:${port}/pushframe/stream?channels=a`, { agent: false }, (res) => res.resume());
  req.on('error', () => undefined); // destroyed at the end, perhaps before its head came
  try {
    await until(() => push.stats().connections.total === 1);
    expect(push.stats().connections.total).toBe(1);
    await collect();
    expect(refs).toHaveLength(1);
    expect(refs[0].deref()).toBeUndefined();
    // The stream is still open.
    expect(push.stats().connections.total).toBe(1);
  } finally {
    req.destroy();
    await push.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

it.each([
  ['a forever-frame stream', '/pushframe/stream?channels=a', /p\.r\(0\)<\/script>$/],
  ['an event stream (SSE)', '/pushframe/events?channels=a', /event: reconnect\n[^]*\n\n$/],
])('keeps neither the request nor the response of %s alive once it owns its socket, and still delivers and ends', async (_name, path, last) => {
  const server = await startTestServer();
  const reqs: WeakRef<object>[] = [];
  server.http.prependListener('request', (req, res) => {
    reqs.push(new WeakRef(req), new WeakRef(res));
  });
  let body = '';
  let ended = false;
  const client = http.get(`${server.url}${path}`, { agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    res.on('end', () => (ended = true));
  });
  try {
    // Open, and released in the loop turn after its first write.
    await until(() => server.stats().connections.total === 1);
    await new Promise((r) => setTimeout(r, 50));
    await collect();
    expect(reqs).toHaveLength(2);
    expect(reqs.map((r) => r.deref())).toEqual([undefined, undefined]);
    // Still a working stream: a message arrives, and a recycle ends the body properly.
    await server.hub.publish('a', { still: 'here' });
    await until(() => body.includes('{"still":"here"}'));
    expect(body).toContain('{"still":"here"}');
    expect(server.stats().connections.total).toBe(1);
  } finally {
    await server.close();
  }
  // close() ended the released stream: a reconnect frame, then a complete chunked body.
  await until(() => ended);
  expect(body).toMatch(last);
  expect(ended).toBe(true);
  client.destroy();
});

it('notices a client that goes away after the stream owns its socket', async () => {
  const server = await startTestServer();
  let responded = false;
  const client = http.get(`${server.url}/pushframe/stream?channels=a`, { agent: false }, (res) => {
    responded = true;
    res.resume();
  });
  // Destroyed on purpose: its 'socket hang up' is expected, not a failure.
  client.on('error', () => undefined);
  try {
    // The head has arrived, and the stream took its socket over in the turn after.
    await until(() => responded);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.stats().connections.total).toBe(1);
    client.destroy();
    const deadline = Date.now() + 5000;
    while (server.stats().connections.total !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(server.stats().connections.total).toBe(0);
  } finally {
    await server.close();
  }
});

it('close() ends a released stream whose client stopped reading', async () => {
  const server = await startTestServer({ maxBufferedBytes: 64 << 20 });
  const client = http.get(`${server.url}/pushframe/stream?channels=a`, { agent: false }, (res) => {
    res.pause();
    res.socket.pause();
  });
  await until(() => server.stats().connections.total === 1);
  // Far more than the socket buffers hold: the server is left with unsent bytes.
  for (let i = 0; i < 200; i++) await server.hub.publish('a', 'x'.repeat(60_000));
  await new Promise((r) => setTimeout(r, 100));
  const closed = server.close();
  // server.close() resolves only once every socket of the server is closed.
  await expect(Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 5000).unref())])).resolves.toBe('closed');
  client.destroy();
});
