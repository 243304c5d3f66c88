import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ChunkedSocketSink } from '../../src/transports';

/**
 * The chunk framing cache lives for one event-loop turn (one fan-out): a large chunk is
 * not kept after it was written, e.g. a large backlog once its history has expired.
 */

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage().heapUsed;
}

const CHUNK_CHARS = 16 * 1024 * 1024;

it('keeps no written chunk alive once the turn that wrote it is over', async () => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    const sink = ChunkedSocketSink.over(res);
    sink.write('x'.repeat(CHUNK_CHARS));
    sink.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as import('node:net').AddressInfo;
  try {
    const before = await heapAfterGc();
    const received = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
        })
        .on('error', reject);
    });
    expect(received).toBe(CHUNK_CHARS);
    const after = await heapAfterGc();
    // The old module-level cache held the chunk and its framed copy: 32 MB here.
    expect((after - before) / 1024 / 1024).toBeLessThan(8);
  } finally {
    await new Promise((r) => server.close(r));
  }
}, 90_000);
