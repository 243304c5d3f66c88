import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 between a browser and one or more servers on loopback, that
 * can fail the way networks do:
 * - `blackhole(which)`: open connections stop forwarding both ways and stay open (a
 *   NAT or firewall that forgot the flow, a laptop that changed networks): no FIN, no
 *   RST. `which` picks them by the path of the last request they carried. With
 *   `{ later: true }`, every later request `which` picks is swallowed the same way,
 *   before it reaches a server (a path that lets no stream through any more).
 * - `cut()`: every open connection is reset, both sides (a proxy that drops its sockets).
 * New connections after either pass normally. Upstreams are tried in order; one that
 * refuses (a crashed node) is skipped, as a load balancer's health check would.
 */
export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  /** Connections open through the proxy right now. */
  readonly open: number;
  blackhole(which?: (path: string) => boolean, options?: { later?: boolean }): void;
  cut(): void;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  server: net.Socket | null;
  frozen: boolean;
  /** The path of the last HTTP request seen on the connection (requests are small: one chunk). */
  path: string;
}

export async function startTcpProxy(upstreamPorts: () => number[]): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  /** Requests to swallow from now on (`blackhole(which, { later: true })`). */
  let swallow: ((path: string) => boolean) | null = null;

  function freeze(p: Pair): void {
    p.frozen = true;
    p.client.unpipe();
    p.server?.unpipe();
    p.client.pause();
    p.server?.pause();
  }

  function connectUpstream(ports: number[], done: (s: net.Socket | null) => void): void {
    const port = ports[0];
    if (port === undefined) return done(null);
    const s = net.connect(port, '127.0.0.1');
    const fail = (): void => {
      s.destroy();
      connectUpstream(ports.slice(1), done);
    };
    s.once('error', fail);
    s.once('connect', () => {
      s.removeListener('error', fail);
      done(s);
    });
  }

  const server = net.createServer((client) => {
    const pair: Pair = { client, server: null, frozen: false, path: '' };
    // Requests are forwarded by hand rather than piped, so that one to be swallowed
    // is held back whole.
    client.on('data', (c: Buffer) => {
      const m = /^[A-Z]+ (\S+) HTTP\/1\.[01]\r\n/.exec(c.subarray(0, 2048).toString('latin1'));
      if (m) {
        pair.path = m[1];
        if (!pair.frozen && swallow?.(pair.path)) freeze(pair);
      }
      if (!pair.frozen && pair.server && !pair.server.write(c)) client.pause();
    });
    client.on('end', () => {
      if (!pair.frozen) pair.server?.end();
    });
    pairs.add(pair);
    client.pause();
    const drop = (): void => {
      if (pair.frozen) return; // a black hole says nothing, ever
      pairs.delete(pair);
      client.destroy();
      pair.server?.destroy();
    };
    client.on('error', drop);
    client.on('close', drop);
    connectUpstream(upstreamPorts(), (up) => {
      if (!up || client.destroyed) {
        up?.destroy();
        drop();
        return;
      }
      pair.server = up;
      up.on('error', drop);
      up.on('close', drop);
      up.on('drain', () => {
        if (!pair.frozen) client.resume();
      });
      up.pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get open() {
      let n = 0;
      for (const p of pairs) if (!p.frozen) n++;
      return n;
    },
    blackhole(which = () => true, { later = false } = {}) {
      for (const p of pairs) if (!p.frozen && which(p.path)) freeze(p);
      if (later) swallow = which;
    },
    cut() {
      for (const p of [...pairs]) {
        if (p.frozen) continue;
        pairs.delete(p);
        p.client.resetAndDestroy();
        p.server?.resetAndDestroy();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) {
          p.frozen = false;
          p.client.destroy();
          p.server?.destroy();
        }
        pairs.clear();
        server.close(() => resolve());
      }),
  };
}
