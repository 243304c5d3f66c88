import { randomBytes } from 'node:crypto';
import { BrokerUnavailableError, type Backlog, type Broker, type BrokerStatus, type PublishOptions } from '../broker';
import type { Cursor, Message } from '../../protocol';
import { IPC_TAG, isIpcMessage, toWireCursor, type Call, type ToClient, type WireBacklog } from './wire';
import type { IpcPort } from './port';

/** A call the primary has not answered in this long is given up (a primary stuck or gone). */
const CALL_TIMEOUT_MS = 10_000;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A broker in a cluster worker that forwards every call to the broker the primary holds
 * (see IpcBrokerHost), so all workers share one epoch, one id sequence and one history.
 * Deliveries arrive on the same ordered channel as replies: when a watermark() reply
 * arrives, every delivery the primary made before answering has reached the sink.
 */
export class IpcBroker implements Broker {
  private readonly client = randomBytes(6).toString('hex');
  private readonly pending = new Map<number, Pending>();
  private calls = 0;
  private sink: (msg: Message) => void = () => {};
  private noteSink: (note: string) => void = () => {};
  private epochText: Promise<string> | null = null;
  private closed = false;
  private gone = false;
  private readonly listener = (raw: unknown): void => this.received(raw);

  constructor(
    private readonly port: IpcPort,
    /** What the primary's broker is, for status(): `memory` by default. */
    private readonly kind = 'memory',
  ) {
    port.onMessage(this.listener);
    port.onClose(() => this.lost());
  }

  epoch(): Promise<string> {
    // The primary's epoch lasts as long as the primary, and so does this broker.
    const asked = (this.epochText ??= this.call({ op: 'epoch' }) as Promise<string>);
    asked.catch(() => {
      if (this.epochText === asked) this.epochText = null;
    });
    return asked;
  }

  publish(channel: string, json: string, options?: PublishOptions): Promise<string> {
    const call: Call = options?.key === undefined ? { op: 'publish', channel, json } : { op: 'publish', channel, json, options: { key: options.key } };
    return this.call(call) as Promise<string>;
  }

  position(): Promise<string> {
    return this.call({ op: 'position' }) as Promise<string>;
  }

  watermark(): Promise<string> {
    return this.call({ op: 'watermark' }) as Promise<string>;
  }

  async history(pattern: string, cursor: Cursor): Promise<Backlog> {
    return (await this.call({ op: 'history', pattern, cursor: toWireCursor(cursor) })) as WireBacklog;
  }

  watch(pattern: string): void {
    this.post({ watch: pattern });
  }

  unwatch(pattern: string): void {
    this.post({ unwatch: pattern });
  }

  setSink(sink: (msg: Message) => void): void {
    this.sink = sink;
  }

  notify(note: string): void {
    this.post({ note });
  }

  setNoteSink(sink: (note: string) => void): void {
    this.noteSink = sink;
  }

  status(): BrokerStatus {
    const ready = !this.gone && !this.closed && this.port.connected();
    return ready ? { kind: this.kind, ready, detail: 'held by the primary process' } : { kind: this.kind, ready, detail: 'the primary process is gone' };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.post({ bye: true });
    this.closed = true;
    this.port.offMessage(this.listener);
    this.fail(new BrokerUnavailableError('the broker is closed'));
  }

  private post(body: { watch: string } | { unwatch: string } | { note: string } | { bye: true }): void {
    if (this.closed || this.gone) return;
    this.port.send({ tag: IPC_TAG, client: this.client, ...body });
  }

  private call(call: Call): Promise<unknown> {
    if (this.closed) return Promise.reject(new BrokerUnavailableError('the broker is closed'));
    if (this.gone || !this.port.connected()) return Promise.reject(new BrokerUnavailableError('the primary process is gone'));
    const n = ++this.calls;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(n);
        reject(new BrokerUnavailableError(`the primary process did not answer within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      timer.unref();
      this.pending.set(n, { resolve, reject, timer });
      this.port.send({ tag: IPC_TAG, client: this.client, n, call });
    });
  }

  private received(raw: unknown): void {
    if (!isIpcMessage(raw) || raw.client !== this.client) return;
    for (const item of (raw as ToClient).items) {
      if ('d' in item) {
        this.sink(item.d);
        continue;
      }
      if ('note' in item) {
        this.noteSink(item.note);
        continue;
      }
      const pending = this.pending.get(item.n);
      if (!pending) continue;
      this.pending.delete(item.n);
      clearTimeout(pending.timer);
      if ('ok' in item) pending.resolve(item.ok);
      else pending.reject(item.err.code === 'broker_unavailable' ? new BrokerUnavailableError(item.err.message) : new Error(item.err.message));
    }
  }

  private lost(): void {
    this.gone = true;
    this.fail(new BrokerUnavailableError('the primary process is gone'));
  }

  private fail(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
