/**
 * One timer for the heartbeats of every stream with the same interval, instead of a
 * Timeout and a closure per stream (about 0.2 KiB each, for hours). The streams are
 * spread over a few buckets and the timer visits one bucket per step, so the
 * heartbeats of thousands of idle streams do not all go out in the same instant.
 */
export interface Ticking {
  tick(): void;
}

const BUCKETS = 8;

class Wheel {
  private readonly buckets: Set<Ticking>[] = Array.from({ length: BUCKETS }, () => new Set());
  private next = 0;
  private placed = 0;
  private size = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly periodMs: number,
    private readonly onEmpty: () => void,
  ) {}

  add(t: Ticking): number {
    const bucket = this.placed++ % BUCKETS;
    this.buckets[bucket].add(t);
    this.size++;
    if (this.timer === null) {
      this.timer = setInterval(() => this.step(), Math.max(1, Math.floor(this.periodMs / BUCKETS)));
      this.timer.unref();
    }
    return bucket;
  }

  delete(t: Ticking, bucket: number): void {
    if (!this.buckets[bucket].delete(t)) return;
    if (--this.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
      this.onEmpty();
    }
  }

  private step(): void {
    const bucket = this.buckets[this.next];
    this.next = (this.next + 1) % BUCKETS;
    // A tick may end its stream (a write error): iterate over a copy.
    for (const t of [...bucket]) t.tick();
  }
}

const wheels = new Map<number, Wheel>();

/**
 * Calls `t.tick()` every `periodMs` (within one eighth of it) until stopTicking; returns
 * the slot to hand to stopTicking (a number, so a stream keeps no closure for it).
 */
export function startTicking(t: Ticking, periodMs: number): number {
  let wheel = wheels.get(periodMs);
  if (!wheel) {
    wheel = new Wheel(periodMs, () => wheels.delete(periodMs));
    wheels.set(periodMs, wheel);
  }
  return wheel.add(t);
}

export function stopTicking(t: Ticking, periodMs: number, slot: number): void {
  wheels.get(periodMs)?.delete(t, slot);
}
