import net from 'node:net';

export interface ThrottlingProxy {
  readonly url: string;
  readonly port: number;
  /** Bytes carried so far, each way. */
  readonly carried: { up: number; down: number };
  close(): Promise<void>;
}

export interface LinkOptions {
  /** One-way delay added to every chunk, in ms. */
  latencyMs: number;
  /** The link's capacity in bits per second, each way, shared by all connections. */
  bitsPerSecond: number;
}

/**
 * One direction of a slow link: chunks leave in order, one after another at the link's
 * rate, and arrive latencyMs after they left. Shared by every connection, like a modem
 * or a congested mobile link.
 */
class Link {
  private freeAt = 0;
  constructor(private readonly options: LinkOptions) {}

  carry(chunk: Buffer, deliver: (chunk: Buffer) => void): void {
    const start = Math.max(Date.now(), this.freeAt);
    this.freeAt = start + (chunk.length * 8 * 1000) / this.options.bitsPerSecond;
    const timer = setTimeout(() => deliver(chunk), this.freeAt + this.options.latencyMs - Date.now());
    timer.unref();
  }
}

/** Largest piece sent at once, so that one large write does not jump the queue as a block. */
const SEGMENT = 1460;

/**
 * A TCP proxy on 127.0.0.1 in front of a loopback server that slows every byte down but
 * holds nothing back: the path of a throttled mobile or satellite link, slow yet
 * unbuffered, on which a stream must stay a stream.
 */
export async function startThrottlingProxy(upstream: string, options: LinkOptions): Promise<ThrottlingProxy> {
  const target = new URL(upstream);
  if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') throw new Error('the throttling proxy only forwards to loopback');
  const up = new Link(options);
  const down = new Link(options);
  const carried = { up: 0, down: 0 };
  const sockets = new Set<net.Socket>();
  const pipeSlowly = (from: net.Socket, to: net.Socket, link: Link, count: (n: number) => void): void => {
    from.on('data', (data: Buffer) => {
      for (let i = 0; i < data.length; i += SEGMENT) {
        const piece = data.subarray(i, i + SEGMENT);
        count(piece.length);
        link.carry(piece, (c) => {
          if (!to.destroyed) to.write(c);
        });
      }
    });
    // The end travels behind the data; a reset as well.
    let ended = false;
    from.on('end', () => {
      ended = true;
      link.carry(Buffer.alloc(0), () => to.end());
    });
    from.on('error', () => undefined);
    from.on('close', () => {
      if (!ended) link.carry(Buffer.alloc(0), () => to.destroy());
    });
  };
  const server = net.createServer((client) => {
    const server = net.connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(server);
    client.on('close', () => sockets.delete(client));
    server.on('close', () => sockets.delete(server));
    pipeSlowly(client, server, up, (n) => (carried.up += n));
    pipeSlowly(server, client, down, (n) => (carried.down += n));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    carried,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
