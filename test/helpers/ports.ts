import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Where the kernel's ephemeral ports (outgoing connections' local ports) begin; Linux's default where /proc cannot be read. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (low > 0) return low;
  } catch {
    // Not Linux, or no /proc: the default below.
  }
  return 32768;
}

/** Lowest port handed out: above the well-known and most registered services' ports. */
const LOWEST = 10000;
/** Ports this process has handed out: two calls before either listens must not agree. */
const handedOut = new Set<number>();

function bindsNow(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for programs that need a port
 * number up front. It is taken below the ephemeral range: a port from that range can be
 * given to an outgoing connection (a browser's, nginx's) between this call and the
 * program's listen, which then fails with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralLow();
  if (below - LOWEST >= 1000) {
    for (let tries = 0; tries < 100; tries++) {
      const port = LOWEST + Math.floor(Math.random() * (below - LOWEST));
      if (handedOut.has(port) || !(await bindsNow(port))) continue;
      handedOut.add(port);
      return port;
    }
  }
  // An ephemeral range that starts low: the kernel's choice, with the race above.
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Does something accept connections on 127.0.0.1:port right now? */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Resolves once something accepts connections on 127.0.0.1:port; bounded in time. */
export async function waitForPort(
  port: number,
  timeoutMs = 5000,
  isDead: () => string | null = () => null,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const dead = isDead();
    if (dead) throw new Error(dead);
    if (await canConnect(port)) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
