import { EventEmitter } from 'node:events';
import { StreamConnection, Tally, foreverFrameFormat, type Sink } from '../../src/transports';

/** A socket whose peer never reads: everything written stays in its buffer. */
class StalledSink extends EventEmitter implements Sink {
  writableLength = 0;
  destroyed = false;
  peak = 0;
  write(chunk: string): boolean {
    this.writableLength += chunk.length;
    this.peak = Math.max(this.peak, this.writableLength);
    return this.writableLength < 16 * 1024; // Node's default highWaterMark
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
    // As a socket does: 'close' comes later, not inside destroy().
    process.nextTick(() => this.emit('close'));
  }
}

const MAX_BUFFERED = 256 * 1024;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('StreamConnection under a publish flood', () => {
  it.each([
    ['one message a tick', 1],
    ['1000 messages a tick', 1000],
  ])('holds at most maxBufferedBytes for a client that never reads (%s)', async (_name, perTick) => {
    const sink = new StalledSink();
    const tally = new Tally('iframe');
    const conn = new StreamConnection(sink, foreverFrameFormat('iframe', 60_000), { heartbeatMs: 60_000, maxStreamBytes: 1 << 30, maxBufferedBytes: MAX_BUFFERED }, tally, () => undefined);
    conn.open({ cursor: 'e~0', resets: [], backlog: [], checkpoint: null });
    const json = JSON.stringify('x'.repeat(1000));
    let sent = 0;
    while (!conn.isClosed && sent < 100_000) {
      for (let i = 0; i < perTick && !conn.isClosed; i++) conn.deliver({ channel: 'a', id: String(++sent), json });
      await tick();
    }
    expect(conn.isClosed).toBe(true);
    expect(sink.destroyed).toBe(true);
    expect(tally.drops.slow_consumer).toBe(1);
    // Cut as soon as it passed the bound: what it holds is the bound plus one tick's batch at most.
    expect(sink.peak).toBeLessThanOrEqual(MAX_BUFFERED + perTick * (json.length + 20) + 4096);
    expect(sent).toBeLessThan(MAX_BUFFERED / 1000 + perTick + 20);
    // Nothing more is taken once closed.
    conn.deliver({ channel: 'a', id: String(++sent), json });
    expect(sink.writableLength).toBeLessThanOrEqual(sink.peak);
  });

  it('keep-latest messages replace their pending version instead of piling up', async () => {
    const sink = new StalledSink();
    const tally = new Tally('iframe');
    const conn = new StreamConnection(sink, foreverFrameFormat('iframe', 60_000), { heartbeatMs: 60_000, maxStreamBytes: 1 << 30, maxBufferedBytes: MAX_BUFFERED }, tally, () => undefined);
    conn.open({ cursor: 'e~0', resets: [], backlog: [], checkpoint: null });
    // Block the socket first.
    conn.deliver({ channel: 'a', id: '1', json: JSON.stringify('y'.repeat(20_000)) });
    await tick();
    const before = sink.writableLength;
    for (let i = 2; i < 50_000; i++) conn.deliver({ channel: 'ticker', id: String(i), json: JSON.stringify({ price: i }), key: 'AEX' });
    expect(conn.isClosed).toBe(false);
    expect(sink.writableLength).toBe(before);
    conn.close('client_gone');
  });
});
