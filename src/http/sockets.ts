import { readFileSync, readdirSync } from 'node:fs';
import type http from 'node:http';
import type { Socket } from 'node:net';
import { keepOnRelease } from '../transports';
import { clientIp } from './limits';

/**
 * Descriptors kept out of the socket budget: what the process opens besides client
 * sockets once it runs (files read on demand, /proc reads for stats, a Redis reconnect,
 * log rotation) and what libuv needs to shed connections when none is left.
 */
export const RESERVED_FDS = 64;
/** Short requests (publishes, health checks) one address may make beside its long-lived ones. */
export const PER_IP_EXTRA_SOCKETS = 32;

/** The soft limit on open files (`ulimit -n`), or Infinity where /proc does not tell. */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}

/** Descriptors open now, or -1 where /proc does not tell (or none is left to ask with). */
export function openDescriptors(): number {
  try {
    // The directory listing holds one descriptor itself while it reads.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return -1;
  }
}

export type SocketRefusal = 'too_many_sockets' | 'too_many_sockets_per_ip' | 'out_of_descriptors';

/**
 * Every client socket counts against a budget derived from the descriptor limit,
 * whatever it carries (a stream, a poll, a publish, a request whose body never ends, a
 * stream ended but not yet read): past it, new connections are closed at once instead of
 * the process running out of descriptors. One address holds at most its long-lived
 * connections plus PER_IP_EXTRA_SOCKETS, and never more than half the budget, so one
 * client cannot lock out the others.
 */
export class SocketBudget {
  readonly total: number;
  readonly perIp: number;
  private readonly byIp = new Map<string, number>();
  private open = 0;

  constructor(
    fdLimit: number,
    fdsInUse: number,
    maxConnectionsPerIp: number,
    private readonly onRefuse: (reason: SocketRefusal, ip: string) => void,
    private readonly onError: (err: Error) => void = () => undefined,
    /** Peers that carry many clients (trusted proxies): no per-address share, only the total. */
    private readonly sharedPeer: (address: string) => boolean = () => false,
  ) {
    this.total = Number.isFinite(fdLimit) ? Math.max(1, fdLimit - Math.max(fdsInUse, 0) - RESERVED_FDS) : Infinity;
    this.perIp = Math.max(1, Math.min(maxConnectionsPerIp + PER_IP_EXTRA_SOCKETS, Math.floor(this.total / 2)));
  }

  get size(): number {
    return this.open;
  }

  /** Counts the sockets of `server`; call before it listens. */
  attach(server: http.Server): void {
    // Node closes a connection past maxConnections before any JavaScript sees it ('drop').
    if (Number.isFinite(this.total)) server.maxConnections = this.total;
    server.on('drop', (data?: { remoteAddress?: string }) => this.onRefuse('too_many_sockets', clientIp(data?.remoteAddress)));
    // Before the HTTP parser takes the socket: one past its address's share is closed unread.
    server.prependListener('connection', (socket: Socket) => this.admit(socket));
    server.on('error', (err: NodeJS.ErrnoException) => {
      // After listen, the only errors are from accept(): no descriptor for a new connection.
      if (err.code === 'EMFILE' || err.code === 'ENFILE') this.onRefuse('out_of_descriptors', 'unknown');
      else this.onError(err);
    });
  }

  private admit(socket: Socket): void {
    const ip = clientIp(socket.remoteAddress);
    if (this.sharedPeer(ip)) {
      // A trusted proxy's clients are told apart per request (their forwarded address),
      // where the per-client connection limit applies.
      this.open++;
      socket.on('close', this.onSharedClose);
      return;
    }
    const mine = this.byIp.get(ip) ?? 0;
    if (mine >= this.perIp) {
      socket.destroy();
      this.onRefuse('too_many_sockets_per_ip', ip);
      return;
    }
    this.open++;
    this.byIp.set(ip, mine + 1);
    socket.on('close', this.onClose);
  }

  // One 'close' listener for every socket, not a closure and a once-wrapper each: they
  // would be kept for the life of every stream. ('close' comes once; the address is the
  // socket's own, which Node keeps once read.)
  private readonly onSharedClose = keepOnRelease((): void => {
    this.open--;
  });

  private readonly onClose = keepOnRelease(socketCloseListener((ip) => this.forget(ip)));

  private forget(ip: string): void {
    this.open--;
    const n = (this.byIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.byIp.delete(ip);
    else this.byIp.set(ip, n);
  }
}

/** A 'close' listener that passes the closed socket's client address to `onClose`. */
function socketCloseListener(onClose: (ip: string) => void): (this: Socket) => void {
  return function (this: Socket): void {
    onClose(clientIp(this.remoteAddress));
  };
}
