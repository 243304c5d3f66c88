import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import Koa from 'koa';
import { MemoryBroker, applyStreamSettings, createPushframe, streamServerOptions, type Pushframe, type PushframeServer } from '../../src';
import { startTestServer } from '../helpers/server';

/**
 * pushframe's own server opens streams around Koa (src/http/stream-fast-path.ts), and
 * answers health checks around it (src/http/health-fast-path.ts); an application's Koa
 * app opens streams through the route. Every request below goes to both,
 * byte for byte as written here, and both must answer alike: the same status, the same
 * headers, the same body up to the open frame (whose cursor names each broker's epoch).
 */

const SETTINGS = { privateChannels: ['priv/*'], secret: 's'.repeat(32), maxConnectionsPerIp: 2, allowedHosts: ['.example.com'] };

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `head` as written; reads until the open frame, or the end of the answer. */
function ask(port: number, head: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (): void => {
      socket.destroy();
      const split = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = name in headers ? headers[name] + '\n' + value : value;
      }
      resolve({ status: Number(lines[0].split(' ')[1]), headers, body: text.slice(split + 4) });
    };
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
      const at = text.indexOf('p.o(');
      if (at !== -1) {
        text = text.slice(0, at);
        done();
        return;
      }
      // An answer with a length is complete once its body is in (the connection stays
      // open); an answer to HEAD, once its head is.
      const split = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split + 2));
      if (split !== -1 && (head.startsWith('HEAD') || (length !== null && Buffer.byteLength(text.slice(split + 4)) >= Number(length[1])))) done();
    });
    socket.on('end', done);
    socket.on('error', reject);
    socket.write(head);
  });
}

/** What differs between two servers by nature: the date, a new browser id, a random retry delay. */
function comparable(a: Answer): Answer {
  const headers = { ...a.headers };
  delete headers.date;
  if (headers['set-cookie']) headers['set-cookie'] = headers['set-cookie'].replace(/pf_browser=[^;]+/, 'pf_browser=ID');
  if (headers['retry-after']) headers['retry-after'] = /^\d+$/.test(headers['retry-after']) ? 'N' : headers['retry-after'];
  return { ...a, headers };
}

const get = (target: string, extra = ''): string => `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;
const COOKIE = 'Cookie: pf_browser=AAAAAAAAAAAAAAAAAAAAAA\r\n';

/** What each request is, as sent, and the status both must answer (0: whatever the route does). */
const CASES: [string, string, number][] = [
  ['a plain stream', get('/pushframe/stream?channels=a'), 200],
  ['an htmlfile stream with a frame id', get('/pushframe/stream?channels=a,b/*&t=htmlfile&f=x1'), 200],
  ['a stream with a CSP nonce', get('/pushframe/stream?channels=a&nonce=abcDEF1234567890'), 200],
  ['a stream of a known browser', get('/pushframe/stream?channels=a', COOKIE), 200],
  ['a same-origin Origin header', get('/pushframe/stream?channels=a', 'Origin: http://localhost\r\n'), 200],
  ['a document.domain stream', 'GET /pushframe/stream?channels=a&d=example.com HTTP/1.1\r\nHost: www.example.com\r\n\r\n', 200],
  ['no channels', get('/pushframe/stream?channels='), 400],
  ['no query', get('/pushframe/stream'), 400],
  ['a bad pattern', get('/pushframe/stream?channels=a%20b'), 400],
  ['a repeated parameter', get('/pushframe/stream?channels=a&channels=b'), 400],
  ['a bad transport', get('/pushframe/stream?channels=a&t=xhr'), 400],
  ['a bad frame id', get('/pushframe/stream?channels=a&f=a-b'), 400],
  ['a page origin not allowed', get('/pushframe/stream?channels=a&origin=http://evil.example'), 403],
  ['a cross-origin Origin header not allowed', get('/pushframe/stream?channels=a', 'Origin: http://evil.example\r\n'), 403],
  ['a parent domain the host is not under', 'GET /pushframe/stream?channels=a&d=example.org HTTP/1.1\r\nHost: www.example.com\r\n\r\n', 400],
  ['a bad nonce', get('/pushframe/stream?channels=a&nonce=%22%3E'), 400],
  ['a bad cursor', get('/pushframe/stream?channels=a&since=zz'), 400],
  ['a private channel without a grant', get('/pushframe/stream?channels=priv/x'), 403],
  ['a private channel with a forged grant', get('/pushframe/stream?channels=priv/x&token=abc.def'), 403],
  ['too many parameters', get('/pushframe/stream?' + Array.from({ length: 40 }, (_, i) => `p${i}=1`).join('&') + '&channels=a'), 414],
  ['an unknown host name', 'GET /pushframe/stream?channels=a HTTP/1.1\r\nHost: rebound.example.net\r\n\r\n', 421],
  ['a trailing slash', get('/pushframe/stream/?channels=a'), 0],
  ['a fragment in the target', get('/pushframe/stream?channels=a#top'), 0],
  ['a body on a GET', 'GET /pushframe/stream?channels=a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}', 0],
  ['HEAD', 'HEAD /pushframe/stream?channels=a HTTP/1.1\r\nHost: localhost\r\n\r\n', 200],
  ['POST', 'POST /pushframe/stream?channels=a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n', 405],
  ['HTTP/1.0', 'GET /pushframe/stream?channels=a HTTP/1.0\r\nHost: localhost\r\n\r\n', 200],
];

let own: PushframeServer;
let push: Pushframe;
let koaServer: http.Server;
let koaPort: number;

beforeAll(async () => {
  own = await startTestServer(SETTINGS);
  push = await createPushframe({ logLevel: 'silent', statsIntervalMs: 0, ...SETTINGS });
  const app = new Koa();
  app.use(push.middleware());
  koaServer = applyStreamSettings(http.createServer(streamServerOptions(push.config), app.callback()), push.config);
  await new Promise<void>((resolve) => koaServer.listen(0, '127.0.0.1', resolve));
  koaPort = (koaServer.address() as AddressInfo).port;
});

afterAll(async () => {
  await own.close();
  await push.close();
  koaServer.closeAllConnections();
  await new Promise((resolve) => koaServer.close(resolve));
});

it.each(CASES)('%s: answered alike around Koa and through it', async (_name, head, status) => {
  const direct = comparable(await ask(own.port, head));
  const viaKoa = comparable(await ask(koaPort, head));
  if (status !== 0) expect(direct.status).toBe(status);
  expect(direct).toEqual(viaKoa);
  // Both servers hold nothing afterwards: every slot taken was given back.
  const deadline = Date.now() + 5000;
  while ((own.stats().connections.total > 0 || push.stats().connections.total > 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(own.stats().connections.total).toBe(0);
});

it('answers a stream past the per-address limit alike, and lets the stream it refused go on elsewhere', async () => {
  const open: net.Socket[] = [];
  const hold = async (port: number): Promise<void> => {
    const socket = net.connect(port, '127.0.0.1');
    open.push(socket);
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write(get('/pushframe/stream?channels=a'));
    });
  };
  try {
    for (let i = 0; i < SETTINGS.maxConnectionsPerIp; i++) {
      await hold(own.port);
      await hold(koaPort);
    }
    const direct = comparable(await ask(own.port, get('/pushframe/stream?channels=a')));
    const viaKoa = comparable(await ask(koaPort, get('/pushframe/stream?channels=a')));
    expect(direct.status).toBe(429);
    expect(direct).toEqual(viaKoa);
    expect(own.stats().connections.total).toBe(SETTINGS.maxConnectionsPerIp);
  } finally {
    for (const socket of open) socket.destroy();
  }
});

it("keeps an application's own headers and cookie beside a new browser's cookie, and on a refusal", async () => {
  // An application that sets its own headers, then hands the request to pushframe's handler().
  const handler = push.handler();
  const app = applyStreamSettings(
    http.createServer(streamServerOptions(push.config), (req, res) => {
      res.setHeader('X-App', 'kept');
      res.setHeader('Set-Cookie', 'session=s; Path=/');
      handler(req, res);
    }),
    push.config,
  );
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  try {
    const port = (app.address() as AddressInfo).port;
    const stream = await ask(port, get('/pushframe/stream?channels=a'));
    expect(stream.status).toBe(200);
    expect(stream.headers['x-app']).toBe('kept');
    expect(stream.headers['set-cookie'].split('\n')).toEqual([
      'session=s; Path=/',
      expect.stringMatching(/^pf_browser=[A-Za-z0-9_-]{22}; Path=\/pushframe; HttpOnly; SameSite=Lax$/),
    ]);
    expect(stream.headers['content-security-policy']).toBeDefined();
    const refused = await ask(port, get('/pushframe/stream?channels=a%20b'));
    expect(refused.status).toBe(400);
    expect(refused.headers['x-app']).toBe('kept');
    expect(refused.headers['set-cookie']).toBe('session=s; Path=/');
  } finally {
    app.closeAllConnections();
    await new Promise((resolve) => app.close(resolve));
  }
});

/** Health checks as a balancer sends them, and what is left to the Koa route. */
const HEALTH_CASES: [string, string, number][] = [
  ['GET', get('/healthz'), 200],
  ['GET with a query', get('/healthz?from=lb'), 200],
  ['HEAD', 'HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n', 200],
  ['any host name', 'GET /healthz HTTP/1.1\r\nHost: 10.1.2.3.nip.example\r\n\r\n', 200],
  ['HTTP/1.0', 'GET /healthz HTTP/1.0\r\n\r\n', 200],
  ['a body on a GET', 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}', 200],
  ['POST', 'POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n', 405],
  ['a longer path', get('/healthz/x'), 404],
];

/** The same server's Koa app on a port of its own: the answers of the route alone. */
async function koaOf(server: PushframeServer): Promise<{ port: number; close: () => Promise<void> }> {
  const viaKoa = http.createServer(server.app.callback());
  await new Promise<void>((resolve) => viaKoa.listen(0, '127.0.0.1', resolve));
  return {
    port: (viaKoa.address() as AddressInfo).port,
    close: async () => {
      viaKoa.closeAllConnections();
      await new Promise((resolve) => viaKoa.close(resolve));
    },
  };
}

describe('health checks around Koa', () => {
  it.each(HEALTH_CASES)('%s: answered as the Koa route answers it', async (_name, head, status) => {
    const route = await koaOf(own);
    try {
      const direct = comparable(await ask(own.port, head));
      expect(direct.status).toBe(status);
      expect(direct).toEqual(comparable(await ask(route.port, head)));
    } finally {
      await route.close();
    }
  });

  it('answers 503 with the broker\'s detail while the broker is not ready, as the route does', async () => {
    class DownBroker extends MemoryBroker {
      override status() {
        return { kind: 'memory', ready: false, detail: 'down for the test' };
      }
    }
    const down = await startTestServer({ brokerInstance: new DownBroker({ maxCount: 10, maxAgeMs: 60_000 }) });
    const route = await koaOf(down);
    try {
      const direct = comparable(await ask(down.port, get('/healthz')));
      expect(direct.status).toBe(503);
      expect(JSON.parse(direct.body)).toEqual({ status: 'degraded', broker: { kind: 'memory', ready: false, detail: 'down for the test' } });
      expect(direct).toEqual(comparable(await ask(route.port, get('/healthz'))));
    } finally {
      await route.close();
      await down.close();
    }
  });
});
