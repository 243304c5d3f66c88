/**
 * Heartbeats for every stream of one interval on one timer. A Timeout and its closure per
 * stream cost about 0.2 KiB each and a timer-list insertion per open; here a stream only
 * stamps the wheel's tick when it writes. The wheel turns SLOTS times per interval and
 * beats each stream that has been silent for a whole interval's worth of ticks: no stream
 * goes longer than the interval without a frame (what the bridge's stall watchdog counts
 * on), an idle one beats every interval, and a busy one never does. A stream whose last
 * write fell just after a tick beats a little early: after at least (SLOTS-1)/SLOTS of
 * the interval.
 */

export interface Beating {
  /** The wheel's tick when this stream last wrote (`HeartbeatWheel.tick`). */
  wroteAt: number;
  /** Writes a heartbeat, or stamps `wroteAt` to wait another interval (a blocked socket). */
  beat(): void;
}

export const SLOTS = 8;

export class HeartbeatWheel {
  /** Turns of the wheel since it was made; streams stamp it when they write. */
  tick = 0;
  private readonly members = new Set<Beating>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly intervalMs: number) {}

  get size(): number {
    return this.members.size;
  }

  add(member: Beating): void {
    member.wroteAt = this.tick;
    this.members.add(member);
    if (this.timer === null) {
      this.timer = setInterval(() => this.turn(), Math.max(1, Math.round(this.intervalMs / SLOTS)));
      this.timer.unref();
    }
  }

  delete(member: Beating): void {
    this.members.delete(member);
    if (this.members.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private turn(): void {
    const due = ++this.tick - SLOTS;
    // A member may leave while beating (its write failed): Set iteration allows that.
    for (const m of this.members) if (m.wroteAt <= due) m.beat();
  }
}

/** One wheel per interval, shared by every stream with that interval in this process. */
const wheels = new Map<number, HeartbeatWheel>();

export function wheelFor(intervalMs: number): HeartbeatWheel {
  let wheel = wheels.get(intervalMs);
  if (!wheel) wheels.set(intervalMs, (wheel = new HeartbeatWheel(intervalMs)));
  return wheel;
}
