/**
 * Token buckets, one per client: `rate` tokens a second, bursts up to one second's worth.
 * The map is bounded: buckets that have refilled completely carry no information and are
 * swept when it grows, so a flood of distinct clients cannot grow memory without end.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly burst: number;

  constructor(
    private readonly rate: number,
    private readonly maxClients = 100_000,
  ) {
    this.burst = Math.max(1, rate);
  }

  /** Takes one token for `client`: 0 when allowed, else the ms until one is available. */
  take(client: string, now: number): number {
    let b = this.buckets.get(client);
    if (!b) {
      if (this.buckets.size >= this.maxClients) this.sweep(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.rate) / 1000);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / this.rate);
  }

  get clients(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    for (const [client, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * this.rate) / 1000 >= this.burst) this.buckets.delete(client);
    }
    // Everyone is mid-burst: forget the oldest half rather than grow.
    if (this.buckets.size >= this.maxClients) {
      let n = Math.floor(this.buckets.size / 2);
      for (const client of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(client);
      }
    }
  }
}
