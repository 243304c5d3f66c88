import { EventEmitter } from 'node:events';
import { StreamConnection, Tally, foreverFrameFormat, type Sink } from '../../src/transports';
import { HEARTBEAT_FRAME } from '../../src/protocol';

/** A socket that records when each chunk was written (fake time). */
class RecordingSink extends EventEmitter implements Sink {
  writableLength = 0;
  destroyed = false;
  writes: { at: number; chunk: string }[] = [];
  write(chunk: string): boolean {
    this.writes.push({ at: Date.now(), chunk });
    return true;
  }
  end(): void {}
  destroy(): void {}
}

const HEARTBEAT_MS = 5000;

function stream(): { sink: RecordingSink; conn: StreamConnection } {
  const sink = new RecordingSink();
  const conn = new StreamConnection(sink, foreverFrameFormat('iframe', HEARTBEAT_MS), { heartbeatMs: HEARTBEAT_MS, maxStreamBytes: 1 << 30, maxBufferedBytes: 1 << 20 }, new Tally('iframe'), () => undefined);
  conn.open({ cursor: 'e~0', resets: [], backlog: [], checkpoint: null });
  return { sink, conn };
}

/** The longest silence between two writes, and how many heartbeats there were. */
function gaps(sink: RecordingSink): { longest: number; beats: number } {
  let longest = 0;
  for (let i = 1; i < sink.writes.length; i++) longest = Math.max(longest, sink.writes[i].at - sink.writes[i - 1].at);
  return { longest, beats: sink.writes.filter((w) => w.chunk === HEARTBEAT_FRAME).length };
}

describe('stream heartbeats (fake timers)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('an idle stream beats every heartbeatMs, exactly', () => {
    const { sink, conn } = stream();
    jest.advanceTimersByTime(HEARTBEAT_MS * 10);
    const { longest, beats } = gaps(sink);
    expect(beats).toBe(10);
    expect(longest).toBe(HEARTBEAT_MS);
    conn.close('client_gone');
  });

  it('no stream stays silent longer than heartbeatMs, whenever its messages come; a busy one sends no heartbeat', async () => {
    const start = Date.now();
    const { sink, conn } = stream();
    let id = 0;
    // Messages at irregular moments: 1.2 s, 6.1 s (4.9 s later: no beat needed), 12.3 s
    // (6.2 s later: one beat at 11.1 s), then every second for 20 s (no beat).
    const at = [1200, 6100, 12300, ...Array.from({ length: 20 }, (_, i) => 13300 + i * 1000)];
    let now = 0;
    for (const t of at) {
      jest.advanceTimersByTime(t - now);
      now = t;
      conn.deliver({ channel: 'a', id: String(++id), json: '1' });
      await Promise.resolve();
      jest.advanceTimersByTime(0);
    }
    const beatsWhileBusy = gaps(sink).beats;
    jest.advanceTimersByTime(HEARTBEAT_MS * 2);
    const { longest, beats } = gaps(sink);
    expect(longest).toBeLessThanOrEqual(HEARTBEAT_MS);
    expect(beatsWhileBusy).toBe(1);
    expect(sink.writes.find((w) => w.chunk === HEARTBEAT_FRAME)?.at).toBe(start + 11100);
    expect(beats).toBe(beatsWhileBusy + 2);
    conn.close('client_gone');
    jest.advanceTimersByTime(HEARTBEAT_MS * 3);
    expect(gaps(sink).beats).toBe(beats); // nothing after close
  });
});
