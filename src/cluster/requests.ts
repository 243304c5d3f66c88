/** Requests by id across the cluster's IPC channel: each answered once, or given up after a while. */
export class Requests<T> {
  private next = 0;
  private readonly waiting = new Map<number, (answer: T | undefined) => void>();

  /** Sends request `id` with `send`; resolves with its answer, or undefined after `ms` without one. */
  ask(send: (id: number) => void, ms: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const id = ++this.next;
      const timer = setTimeout(() => this.settle(id, undefined), ms);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      send(id);
    });
  }

  /** The answer to request `id`; one to a request already given up is dropped. */
  settle(id: number, answer: T | undefined): void {
    const done = this.waiting.get(id);
    if (!done) return;
    this.waiting.delete(id);
    done(answer);
  }
}
