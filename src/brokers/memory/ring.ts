/**
 * A fixed-capacity FIFO: pushing onto a full ring drops (and returns) the oldest item.
 * The backing array grows with use, so thousands of mostly quiet channels do not each
 * hold a full-capacity array.
 */
export class Ring<T> {
  private readonly items: (T | undefined)[] = [];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.count;
  }

  push(item: T): T | undefined {
    const dropped = this.count === this.capacity ? this.shift() : undefined;
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return dropped;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** The i-th item from the oldest; 0 <= i < size. */
  at(i: number): T {
    return this.items[(this.head + i) % this.capacity] as T;
  }
}
