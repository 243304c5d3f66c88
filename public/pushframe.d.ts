/**
 * Types for page code that uses the pushframe bridge (public/pushframe.js), which
 * defines one global, `Pushframe`. In a page script compiled with TypeScript:
 *
 *   /// <reference types="pushframe/public/pushframe" />
 *
 * docs/bridge.md describes every option, call and event.
 */

declare namespace Pushframe {
  type TransportName = 'htmlfile' | 'iframe' | 'longpoll' | 'sse';
  type State = 'connecting' | 'open' | 'reconnecting' | 'idle' | 'suspended' | 'closed';

  interface ConnectOptions {
    /** The server's prefix (default `/pushframe`); an absolute URL for another origin. */
    url?: string;
    /** Channels and patterns (`x/*` one segment, `x/**` any depth): an array or a comma-separated list. */
    channels?: string[] | string;
    /** Initial cursor, e.g. rendered into the page by the embed macro. */
    since?: string | null;
    /** Element or element id that receives the DOM events (default: `document`). */
    target?: Element | string | null;
    /** A grant for private channels, sent as `token=`. */
    token?: string | null;
    /** Extra query parameters for the stream URL. */
    params?: { [name: string]: string | number | boolean } | null;
    /** The transport ladder, in order of preference (default `htmlfile`, `iframe`, `longpoll`). */
    transports?: TransportName[] | string | null;
    heartbeatTimeoutFactor?: number;
    openTimeoutMs?: number;
    backoffMinMs?: number;
    backoffMaxMs?: number;
    fallbackAfter?: number;
    /** On long-poll, try streaming again this long later (0 = never). */
    reprobeMs?: number;
    reprobeMaxMs?: number;
    /** Legacy opt-in for sibling subdomains in old IE. */
    documentDomain?: string;
  }

  /** Where a message came from: passed to `on()` handlers. */
  interface Meta {
    channel: string;
    /** Opaque; strictly increasing per channel. */
    id: string;
  }

  interface MessageDetail<T = unknown> extends Meta {
    data: T;
  }
  interface OpenDetail {
    transport: TransportName;
    cursor: string;
    heartbeatMs: number;
  }
  interface ResetDetail {
    /** Channels or patterns whose gap history could not cover: reload their state. */
    channels: string[];
  }
  interface TransportDetail {
    name: TransportName;
  }
  interface ErrorDetail {
    /** A server error code, or `timeout`, `disconnected`, `transport_failed`, `no_transport`. */
    code: string;
    message: string;
  }
  interface CloseDetail {}

  /** Lifecycle events of a connection (`c.listen(name, fn)`), by name. */
  interface LifecycleDetails {
    open: OpenDetail;
    reset: ResetDetail;
    transport: TransportDetail;
    error: ErrorDetail;
    close: CloseDetail;
  }

  type MessageHandler<T = unknown> = (data: T, meta: Meta) => void;

  interface Connection {
    /** `fn(data, meta)` for every message on a channel matching `pattern` (`*` or `**`: all). */
    on<T = unknown>(pattern: string, fn: MessageHandler<T>): Connection;
    off(pattern?: string, fn?: MessageHandler<any>): Connection;
    listen<K extends keyof LifecycleDetails>(name: K, fn: (detail: LifecycleDetails[K]) => void): Connection;
    listen(name: 'message', fn: MessageHandler): Connection;
    unlisten<K extends keyof LifecycleDetails>(name: K, fn?: (detail: LifecycleDetails[K]) => void): Connection;
    unlisten(name: 'message', fn?: MessageHandler): Connection;
    subscribe(channels: string | string[]): Connection;
    unsubscribe(channels: string | string[]): Connection;
    /** The resume cursor: what the connection already has. */
    cursor(): string;
    /** Stops everything: no stream, timer or frame is left; emits `close`. */
    close(): void;
    readonly state: State;
    readonly transport: TransportName | null;
  }

  /** DOM event details by event type (`pushframe:message`, …). */
  interface EventDetails {
    'pushframe:message': MessageDetail;
    'pushframe:open': OpenDetail;
    'pushframe:reset': ResetDetail;
    'pushframe:transport': TransportDetail;
    'pushframe:error': ErrorDetail;
    'pushframe:close': CloseDetail;
  }

  /** What `Pushframe.listen` passes: a CustomEvent, or in IE6-8 the bridge's own event object. */
  interface BridgeEvent<D> {
    type: string;
    detail: D;
    target?: EventTarget | null;
    currentTarget?: EventTarget | null;
  }

  type ListenTarget = Element | Document | Window | string;
}

interface PushframeGlobal {
  /** The protocol version the bridge speaks. */
  readonly version: number;
  connect(options?: Pushframe.ConnectOptions): Pushframe.Connection;
  /** DOM-event listening that works in every browser, IE6-8 included. */
  listen<K extends keyof Pushframe.EventDetails>(
    target: Pushframe.ListenTarget,
    type: K,
    fn: (e: Pushframe.BridgeEvent<Pushframe.EventDetails[K]>) => void,
  ): void;
  unlisten<K extends keyof Pushframe.EventDetails>(
    target: Pushframe.ListenTarget,
    type: K,
    fn: (e: Pushframe.BridgeEvent<Pushframe.EventDetails[K]>) => void,
  ): void;
}

declare var Pushframe: PushframeGlobal;

/** `document.addEventListener('pushframe:message', e => e.detail.channel)` is typed. */
interface DocumentEventMap {
  'pushframe:message': CustomEvent<Pushframe.MessageDetail>;
  'pushframe:open': CustomEvent<Pushframe.OpenDetail>;
  'pushframe:reset': CustomEvent<Pushframe.ResetDetail>;
  'pushframe:transport': CustomEvent<Pushframe.TransportDetail>;
  'pushframe:error': CustomEvent<Pushframe.ErrorDetail>;
  'pushframe:close': CustomEvent<Pushframe.CloseDetail>;
}
interface HTMLElementEventMap {
  'pushframe:message': CustomEvent<Pushframe.MessageDetail>;
  'pushframe:open': CustomEvent<Pushframe.OpenDetail>;
  'pushframe:reset': CustomEvent<Pushframe.ResetDetail>;
  'pushframe:transport': CustomEvent<Pushframe.TransportDetail>;
  'pushframe:error': CustomEvent<Pushframe.ErrorDetail>;
  'pushframe:close': CustomEvent<Pushframe.CloseDetail>;
}
