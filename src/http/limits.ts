import { PushframeError } from '../errors';

/**
 * Counts long-lived requests (streams, polls, event streams) in total and per client address,
 * refusing one past either limit before its first byte. Every transport's route takes a
 * slot here and gives it back when its response ends.
 */
export class ConnectionLimits {
  private readonly perIp = new Map<string, number>();
  private open = 0;

  constructor(
    private readonly max: number,
    private readonly maxPerIp: number,
  ) {}

  get size(): number {
    return this.open;
  }

  /** Takes a slot for `ip`, or throws; give it back with `leave(ip)`, once. */
  enter(ip: string): void {
    if (this.open >= this.max) {
      throw new PushframeError('too_many_connections', `The server holds its maximum of ${this.max} connections; retry later.`);
    }
    const mine = this.perIp.get(ip) ?? 0;
    if (mine >= this.maxPerIp) {
      throw new PushframeError('too_many_client_connections', `At most ${this.maxPerIp} connections per client address; close one first.`);
    }
    this.open++;
    this.perIp.set(ip, mine + 1);
  }

  leave(ip: string): void {
    this.open--;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }
}

/** The socket's peer address; IPv4-mapped IPv6 is folded so one client counts once. */
export function clientIp(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  return remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
}
