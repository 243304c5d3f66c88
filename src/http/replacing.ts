import { PushframeError } from '../errors';
import { randomId } from './browsers';

/** What a held stream offers to the request that replaces it. */
export interface Abandonable {
  /** Ends the stream at once: its client has given up on it. */
  abandon(): void;
}

const TOKEN = /^[A-Za-z0-9_-]{22}$/;

/**
 * Held streams that the page which opened them may end from its next request. A page
 * gives up on a stream whose path went dead (a laptop moved to another network, a NAT
 * that forgot the flow): no FIN reaches the server, which keeps the stream with its
 * connection slots and its browser's share of maxStreamsPerBrowser until TCP gives up,
 * about 15 minutes while heartbeats keep data in flight. Two such moves and the
 * browser's next stream is capped. So each held stream gets a random token in its open
 * frame, the bridge names it in the request that replaces the stream (`replaces=`), and
 * the server ends the old stream before counting the new request's slots.
 *
 * The token is the whole proof: 128 random bits that only the stream's own body carried
 * to its page, good for one use. No cookie is asked for, since a cross-site embed sends
 * none, and its dead streams hold slots too; whoever could read the token could read the
 * stream, and ending a stream only makes its page resume from its cursor.
 *
 * A token this process does not hold goes to the other nodes and workers, since a
 * balancer may have sent the page's next request elsewhere: `tellOthers` is wired to the
 * broker's notes, and their notes come back in `replaceHeld`.
 */
export class ReplaceableStreams {
  private readonly held = new Map<string, Abandonable>();

  constructor(private readonly tellOthers: (token: string) => void = () => undefined) {}

  /** Registers a held stream; returns the token its open frame carries. */
  add(stream: Abandonable): string {
    const token = randomId();
    this.held.set(token, stream);
    return token;
  }

  /** Forgets a stream that ended. */
  delete(token: string): void {
    this.held.delete(token);
  }

  /**
   * Ends the stream `token` names, if it is still held here or on another node: a page
   * cannot tell whether its old stream is, and an unknown token changes nothing. Throws
   * on a malformed token.
   */
  replace(token: string): void {
    if (!TOKEN.test(token)) throw new PushframeError('bad_request', 'The "replaces" parameter is a stream token: 22 characters of [A-Za-z0-9_-].');
    if (!this.replaceHeld(token)) this.tellOthers(token);
  }

  /** Ends the stream `token` names if this process holds it (another node's note); says whether it did. */
  replaceHeld(token: string): boolean {
    const stream = this.held.get(token);
    if (stream === undefined) return false;
    this.held.delete(token);
    stream.abandon();
    return true;
  }
}
