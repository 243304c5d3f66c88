import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import type Koa from 'koa';
import { startTestServer } from '../helpers/server';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('keeps no Koa context alive for the life of a stream', async () => {
  const server = await startTestServer();
  const refs: WeakRef<Koa.Context>[] = [];
  const create = server.app.createContext.bind(server.app);
  server.app.createContext = (req, res) => {
    const ctx = create(req, res);
    refs.push(new WeakRef(ctx));
    return ctx;
  };
  const req = http.get(`${server.url}/pushframe/stream?channels=a`, { agent: false }, (res) => res.resume());
  try {
    await new Promise((r) => setTimeout(r, 200));
    expect(server.stats().connections.total).toBe(1);
    await collect();
    expect(refs).toHaveLength(1);
    expect(refs[0].deref()).toBeUndefined();
    // The stream is still open.
    expect(server.stats().connections.total).toBe(1);
  } finally {
    req.destroy();
    await server.close();
  }
});
