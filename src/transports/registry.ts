import { Tally } from './tally';

/** What the registry needs of a connection of any transport (stream, poll). */
export interface Connection {
  readonly transport: string;
  /** Bytes held for the client: unsent socket buffer plus messages waiting to be written. */
  readonly queuedBytes: number;
  reconnect(delayMs: number): void;
}

/**
 * Every open connection of every transport, with per-transport figures: what stats,
 * metrics and graceful shutdown read. Tallies live here for the life of the server.
 */
export class ConnectionRegistry<C extends Connection = Connection> {
  private readonly live = new Set<C>();
  private readonly tallies = new Map<string, Tally>();

  tally(transport: string): Tally {
    let t = this.tallies.get(transport);
    if (!t) this.tallies.set(transport, (t = new Tally(transport)));
    return t;
  }

  allTallies(): Tally[] {
    return [...this.tallies.values()];
  }

  add(conn: C): void {
    this.live.add(conn);
  }

  delete(conn: C): void {
    this.live.delete(conn);
  }

  get size(): number {
    return this.live.size;
  }

  /** Bytes queued for all clients together (read at scrape time). */
  queuedBytes(): number {
    let n = 0;
    for (const conn of this.live) n += conn.queuedBytes;
    return n;
  }

  /** Tells every connection to reconnect after a random delay up to `jitterMs`. */
  reconnectAll(jitterMs: number): void {
    for (const conn of [...this.live]) conn.reconnect(Math.floor(Math.random() * jitterMs));
  }
}
