/** One end of a node IPC channel, as the broker sees it. */
export interface IpcPort {
  /** Sends one message; a channel that is closed drops it (the peer is gone). */
  send(message: object): void;
  onMessage(listener: (message: unknown) => void): void;
  offMessage(listener: (message: unknown) => void): void;
  /** Called once when the channel closes (the peer exited or disconnected). */
  onClose(listener: () => void): void;
  connected(): boolean;
}

/** Node's own listener type: ChildProcess and Process both take any arguments. */
type Listener = (...args: any[]) => void;

/** The kind of object that has a node IPC channel: a forked child from the parent's side, or `process` inside it. */
type Channel = {
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
  once(event: string, listener: Listener): unknown;
  send?(message: object, callback: (err: Error | null) => void): boolean;
  readonly connected: boolean;
};

/**
 * Adapts a ChildProcess (a cluster worker's `worker.process`) or the worker's own
 * `process` to an IpcPort. Sending on a closed channel reports to the callback, which is
 * ignored: the 'disconnect' that follows tells the broker.
 */
export function channelPort(channel: Channel): IpcPort {
  return {
    send(message) {
      if (!channel.connected || !channel.send) return;
      try {
        channel.send(message, () => {});
      } catch {
        // Closed between the check and the send: 'disconnect' follows.
      }
    },
    onMessage(listener) {
      channel.on('message', listener);
    },
    offMessage(listener) {
      channel.off('message', listener);
    },
    onClose(listener) {
      if (!channel.connected) {
        queueMicrotask(listener);
        return;
      }
      channel.once('disconnect', listener);
    },
    connected: () => channel.connected,
  };
}
