import { EventEmitter } from 'node:events';
import { StreamConnection, Tally, foreverFrameFormat, type Sink } from '../../src/transports';
import { HEARTBEAT_FRAME } from '../../src/protocol';
import { SLOTS } from '../../src/transports/heartbeats';

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
    // Messages at irregular moments: 1.2 s, 6.1 s, 12.3 s, then every second for 20 s.
    const at = [1200, 6100, 12300, ...Array.from({ length: 20 }, (_, i) => 13300 + i * 1000)];
    let now = 0;
    let beatsWhileBusy = 0;
    for (const t of at) {
      jest.advanceTimersByTime(t - now);
      now = t;
      if (t === 13300) beatsWhileBusy = gaps(sink).beats;
      conn.deliver({ channel: 'a', id: String(++id), json: '1' });
      await Promise.resolve();
      jest.advanceTimersByTime(0);
    }
    // A message each second: no heartbeat at all.
    expect(gaps(sink).beats).toBe(beatsWhileBusy);
    jest.advanceTimersByTime(HEARTBEAT_MS * 2);
    const { longest, beats } = gaps(sink);
    expect(longest).toBeLessThanOrEqual(HEARTBEAT_MS);
    // Every heartbeat follows a whole interval of silence, give or take one turn of the
    // wheel (heartbeats.ts): after 1.2 s one at 5.625 s, after 6.1 s one at 10.625 s.
    const w = sink.writes;
    for (let i = 1; i < w.length; i++) {
      if (w[i].chunk === HEARTBEAT_FRAME) expect(w[i].at - w[i - 1].at).toBeGreaterThanOrEqual((HEARTBEAT_MS * (SLOTS - 1)) / SLOTS);
    }
    expect(w.filter((x) => x.chunk === HEARTBEAT_FRAME).map((x) => x.at - start).slice(0, 2)).toEqual([5625, 10625]);
    expect(beats).toBe(beatsWhileBusy + 2);
    conn.close('client_gone');
    jest.advanceTimersByTime(HEARTBEAT_MS * 3);
    expect(gaps(sink).beats).toBe(beats); // nothing after close
  });

  it('many streams share one timer, and a closed stream leaves the wheel', () => {
    const streams = Array.from({ length: 50 }, () => stream());
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(HEARTBEAT_MS);
    for (const { sink } of streams) expect(gaps(sink).beats).toBe(1);
    for (const { conn } of streams) conn.close('client_gone');
    expect(jest.getTimerCount()).toBe(0);
  });
});
