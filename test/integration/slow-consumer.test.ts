import { readFileSync } from 'node:fs';
import net from 'node:net';
import { StreamClient } from '../helpers/stream-client';
import { ensureBuilt, startCli, type CliServer } from '../helpers/child';

const MESSAGES = 10_000;
const PAYLOAD = 'x'.repeat(1000);
const MAX_BUFFERED = 512 * 1024;
const BATCH = 100;

/** Sends `count` publishes in one write (HTTP pipelining) and waits for their `202`s. */
function publishBatch(port: number, from: number, count: number): Promise<void> {
  let wire = '';
  for (let seq = from; seq < from + count; seq++) {
    const body = JSON.stringify({ seq, pad: PAYLOAD });
    wire += `POST /pushframe/publish/feed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(wire));
    let text = '';
    let seen = 0;
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      text += c;
      let at: number;
      while ((at = text.indexOf('HTTP/1.1 ')) !== -1) {
        const status = text.slice(at + 9, at + 12);
        if (status !== '202') return reject(new Error('publish answered ' + text.slice(at, at + 300)));
        text = text.slice(at + 12);
        if (++seen === count) {
          socket.end();
          resolve();
        }
      }
    });
    socket.on('error', reject);
  });
}

/** Resident set size of a process, from /proc (the server runs in a child of its own). */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error('no VmRSS in /proc/' + pid + '/status');
  return Number(m[1]) / 1024;
}

/**
 * One client stops reading while three others take 10 000 messages of 1 KB (10 MB each):
 * the stalled connection is cut once its unsent bytes pass maxBufferedBytes, the server
 * process's memory stays flat, and the readers get every message, in order, once.
 */
describe('a slow consumer', () => {
  let server: CliServer;
  beforeAll(async () => {
    await ensureBuilt();
    server = await startCli({
      PUSHFRAME_MAX_BUFFERED_BYTES: String(MAX_BUFFERED),
      // Recycling would end the readers' streams too; this test is about the slow one.
      PUSHFRAME_MAX_STREAM_BYTES: String(1 << 30),
      PUSHFRAME_HISTORY_SIZE: '100',
    });
  }, 60_000);
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await server?.exited;
  });

  it('is closed, memory stays bounded, and the others lose nothing', async () => {
    const pid = server.child.pid as number;
    const port = Number(new URL(server.url).port);
    const readers = await Promise.all([1, 2, 3].map(() => StreamClient.open(`${server.url}/pushframe/stream?channels=feed`)));
    await Promise.all(readers.map((r) => r.waitForFrame('o')));

    // The stalled client: a raw socket that reads its headers and then nothing more.
    const stalled = net.connect(port, '127.0.0.1');
    let stalledClosed = false;
    await new Promise<void>((resolve) => {
      stalled.once('data', () => {
        stalled.pause();
        resolve();
      });
      stalled.write('GET /pushframe/stream?channels=feed HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    stalled.on('close', () => (stalledClosed = true));
    stalled.on('error', () => (stalledClosed = true));

    const stats = async (): Promise<{ drops: Record<string, number>; connections: { total: number } }> =>
      (await (await fetch(`${server.url}/pushframe/stats`)).json()) as never;
    expect((await stats()).connections.total).toBe(4);

    const baseline = rssMb(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 25);
    const started = Date.now();
    try {
      // Pipelined over one socket: fast, and the ids follow seq order. The readers are paced
      // (a batch of ~100 KB at a time, well under the bound) so that only the stalled client
      // can fall behind, however busy the machine running the test is.
      for (let from = 0; from < MESSAGES; from += BATCH) {
        await publishBatch(port, from, Math.min(BATCH, MESSAGES - from));
        await Promise.all(readers.map((r) => r.waitForMessages(from + BATCH, 20_000)));
      }
      await Promise.all(readers.map((r) => r.waitForMessages(MESSAGES, 20_000)));
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - started) / 1000;

    const after = await stats();
    expect(after.drops.slow_consumer).toBe(1);
    expect(after.connections.total).toBe(3);
    // The server cut the stalled socket: reading it now runs into the end.
    stalled.resume();
    await new Promise((r) => setTimeout(r, 300));
    expect(stalledClosed).toBe(true);

    for (const r of readers) {
      expect(r.messages.length).toBe(MESSAGES);
      const seqs = r.messages.map((m) => (m.data as { seq: number }).seq);
      expect(seqs.every((s, i) => s === i)).toBe(true);
      const ids = r.messages.map((m) => BigInt(m.id));
      expect(ids.every((id, i) => i === 0 || id > ids[i - 1])).toBe(true);
      expect(r.ended).toBe(false);
      r.close();
    }
    // About 30 MB went out to the readers; the server process grew by far less.
    expect(peak - baseline).toBeLessThan(48);
    process.stdout.write(
      `slow-consumer: ${MESSAGES} msgs x 3 readers in ${seconds.toFixed(1)} s; server rss ${baseline.toFixed(1)} MB -> peak ${peak.toFixed(1)} MB\n`,
    );
    stalled.destroy();
  }, 60_000);
});
