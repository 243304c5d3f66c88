/**
 * One flush per event-loop turn for every connection that got messages in that turn:
 * messages published in the same tick to one connection go out in one write, and the
 * scheduling costs one setImmediate, not one per connection or per message.
 */
export interface Flushable {
  flush(): void;
}

let dirty: Flushable[] = [];
let scheduled = false;

function flushAll(): void {
  const batch = dirty;
  dirty = [];
  scheduled = false;
  for (let i = 0; i < batch.length; i++) batch[i].flush();
}

export function scheduleFlush(conn: Flushable): void {
  dirty.push(conn);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}
