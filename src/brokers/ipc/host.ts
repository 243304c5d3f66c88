import type { Broker } from '../broker';
import type { Message } from '../../protocol';
import { IPC_TAG, fromWireCursor, isIpcMessage, toWireBacklog, toWireMessage, type Call, type Item, type ToHost } from './wire';
import type { IpcPort } from './port';

/** One IpcBroker on the other side of a port, with the patterns it watches. */
class Endpoint {
  /** Pattern -> watch count (the hub watches a pattern once per subscription). */
  readonly patterns = new Map<string, number>();
  private outbox: Item[] = [];
  private flushing = false;

  constructor(
    readonly port: IpcPort,
    readonly client: string,
  ) {}

  /** Is `channel` one this endpoint watches? Looks up only the patterns that could match it. */
  wants(channel: string): boolean {
    if (this.patterns.size === 0) return false;
    if (this.patterns.has(channel)) return true;
    const segments = channel.split('/');
    if (this.patterns.has(segments.length === 1 ? '*' : segments.slice(0, -1).join('/') + '/*')) return true;
    if (this.patterns.has('**')) return true;
    let prefix = '';
    for (let i = 0; i < segments.length - 1; i++) {
      prefix += segments[i] + '/';
      if (this.patterns.has(prefix + '**')) return true;
    }
    return false;
  }

  /** Deliveries and replies wait for the end of this turn and go out in one IPC message,
   * in the order they happened: a reply never overtakes a delivery made before it. */
  deliver(msg: Message): void {
    this.push({ d: toWireMessage(msg) });
  }

  reply(item: Item): void {
    this.push(item);
  }

  note(note: string): void {
    this.push({ note });
  }

  private push(item: Item): void {
    this.outbox.push(item);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    if (this.outbox.length === 0) return;
    const items = this.outbox;
    this.outbox = [];
    this.port.send({ tag: IPC_TAG, client: this.client, items });
  }
}

/**
 * The primary's side of the IPC broker: serves the calls of IpcBrokers in other processes
 * from one broker (ids, history and epoch live here), forwards each message the broker
 * delivers to every endpoint watching a matching pattern, and each note of one endpoint
 * to all the others (and to the broker's other processes, if it has any).
 */
export class IpcBrokerHost {
  private readonly endpoints = new Map<IpcPort, Map<string, Endpoint>>();

  constructor(private readonly broker: Broker) {
    broker.setSink((msg) => {
      for (const byClient of this.endpoints.values()) {
        for (const endpoint of byClient.values()) if (endpoint.wants(msg.channel)) endpoint.deliver(msg);
      }
    });
    broker.setNoteSink((note) => this.relay(note, null));
  }

  /** Serves the IpcBrokers on the other end of `port` until it closes. */
  attach(port: IpcPort): void {
    const byClient = new Map<string, Endpoint>();
    this.endpoints.set(port, byClient);
    const listener = (raw: unknown): void => {
      if (!isIpcMessage(raw)) return;
      const msg = raw as ToHost;
      let endpoint = byClient.get(msg.client);
      if (!endpoint) byClient.set(msg.client, (endpoint = new Endpoint(port, msg.client)));
      if ('call' in msg) this.serve(endpoint, msg.n, msg.call);
      else if ('watch' in msg) this.watch(endpoint, msg.watch);
      else if ('unwatch' in msg) this.unwatch(endpoint, msg.unwatch);
      else if ('note' in msg) this.note(endpoint, msg.note);
      else if ('bye' in msg) this.drop(endpoint);
    };
    port.onMessage(listener);
    port.onClose(() => {
      port.offMessage(listener);
      for (const endpoint of byClient.values()) this.drop(endpoint);
      this.endpoints.delete(port);
    });
  }

  private serve(endpoint: Endpoint, n: number, call: Call): void {
    this.answer(call).then(
      (ok) => endpoint.reply({ n, ok }),
      (err: unknown) => {
        const e = err as { message?: unknown; code?: unknown };
        const message = typeof e?.message === 'string' ? e.message : String(err);
        endpoint.reply({ n, err: typeof e?.code === 'string' ? { message, code: e.code } : { message } });
      },
    );
  }

  private async answer(call: Call): Promise<unknown> {
    switch (call.op) {
      case 'epoch':
        return this.broker.epoch();
      case 'position':
        return this.broker.position();
      case 'watermark':
        return this.broker.watermark();
      case 'publish':
        return this.broker.publish(call.channel, call.json, call.options);
      case 'history':
        return toWireBacklog(await this.broker.history(call.pattern, fromWireCursor(call.cursor)));
      default:
        throw new Error('unknown broker call');
    }
  }

  private watch(endpoint: Endpoint, pattern: string): void {
    endpoint.patterns.set(pattern, (endpoint.patterns.get(pattern) ?? 0) + 1);
    this.broker.watch(pattern);
  }

  private unwatch(endpoint: Endpoint, pattern: string): void {
    const n = endpoint.patterns.get(pattern);
    if (n === undefined) return;
    if (n <= 1) endpoint.patterns.delete(pattern);
    else endpoint.patterns.set(pattern, n - 1);
    this.broker.unwatch(pattern);
  }

  private note(from: Endpoint, note: string): void {
    if (typeof note !== 'string') return;
    this.relay(note, from);
    this.broker.notify(note);
  }

  /** A note to every endpoint but the one it came from. */
  private relay(note: string, from: Endpoint | null): void {
    for (const byClient of this.endpoints.values()) {
      for (const endpoint of byClient.values()) if (endpoint !== from) endpoint.note(note);
    }
  }

  /** An endpoint that left gives back its watches. */
  private drop(endpoint: Endpoint): void {
    for (const [pattern, n] of endpoint.patterns) for (let i = 0; i < n; i++) this.broker.unwatch(pattern);
    endpoint.patterns.clear();
    this.endpoints.get(endpoint.port)?.delete(endpoint.client);
  }

  /** Figures for the primary's log. */
  get clients(): number {
    let n = 0;
    for (const byClient of this.endpoints.values()) n += byClient.size;
    return n;
  }
}
