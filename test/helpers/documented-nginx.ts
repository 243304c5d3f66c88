import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';
import { NGINX_BIN, startNginxConf } from './nginx';

export { startNginxConf };

/** The ```nginx blocks of docs/scaling.md, in order: [plain HTTP site, TLS + HTTP/2 server]. */
export function documentedNginxBlocks(): string[] {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'scaling.md'), 'utf8');
  const blocks = [...doc.matchAll(/```nginx\n([\s\S]*?)```/g)].map((m) => m[1]);
  if (blocks.length < 2) throw new Error('docs/scaling.md should show the nginx site and its TLS server block');
  return blocks;
}

export interface DocumentedNginx {
  /** `http://127.0.0.1:port` */
  readonly url: string;
  /** `https://127.0.0.1:port` when started with TLS. */
  readonly httpsUrl: string;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface DocumentedNginxOptions {
  /** The two upstream nodes' ports (the doc's 8081 and 8082). */
  upstreams: [number, number];
  /** The application's port (the doc's 3000). */
  app: number;
  /** Also run the TLS + HTTP/2 server block, with a self-signed certificate made here. */
  tls?: boolean;
  workerConnections?: number;
}

/**
 * The lines of an nginx error log where nginx counted a node as failed or had none left:
 * a request sent on a connection the node had closed, the node set aside for
 * `fail_timeout`, no node to send to. With `mentioning`, only the lines of requests
 * whose line names it (as written or URL-encoded: a channel, a path).
 */
export function upstreamFailures(errorLog: string, mentioning?: string): string[] {
  const names = mentioning === undefined ? [] : [mentioning, encodeURIComponent(mentioning)];
  return errorLog
    .split('\n')
    .filter((line) => /upstream prematurely closed|upstream server temporarily disabled|no live upstreams/.test(line))
    .filter((line) => names.length === 0 || names.some((n) => line.includes(n)));
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl. */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert],
      { stdio: 'pipe' },
    );
  } catch (err) {
    throw new Error(`openssl could not make a certificate (Debian package "openssl"): ${(err as Error).message}`);
  }
  return { cert, key };
}

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`docs/scaling.md's nginx example no longer contains "${from}"`);
  return text.split(from).join(to);
}

/**
 * nginx configured exactly as docs/scaling.md shows; only the ports, the certificate
 * paths and the temporary prefix are substituted.
 */
export async function startDocumentedNginx(options: DocumentedNginxOptions): Promise<DocumentedNginx> {
  if (!existsSync(NGINX_BIN)) throw new Error(`${NGINX_BIN} is missing: install the Debian package "nginx-light" (apt-get install nginx-light)`);
  const [site, tlsServer] = documentedNginxBlocks();
  const dir = mkdtempSync(join(tmpdir(), 'pushframe-docnginx-'));
  const port = await freePort();
  let conf = site;
  conf = replaceOnce(conf, 'server 127.0.0.1:8081 ', `server 127.0.0.1:${options.upstreams[0]} `);
  conf = replaceOnce(conf, 'server 127.0.0.1:8082 ', `server 127.0.0.1:${options.upstreams[1]} `);
  conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${port};`);
  conf = replaceOnce(conf, 'http://127.0.0.1:3000', `http://127.0.0.1:${options.app}`);
  let tlsPort = 0;
  if (options.tls) {
    tlsPort = await freePort();
    const { cert, key } = makeCertificate(dir);
    let t = tlsServer;
    t = replaceOnce(t, 'listen 443 ssl http2;', `listen 127.0.0.1:${tlsPort} ssl http2;`);
    t = replaceOnce(t, '/etc/ssl/certs/www.example.com.pem', cert);
    t = replaceOnce(t, '/etc/ssl/private/www.example.com.key', key);
    t = replaceOnce(t, 'http://127.0.0.1:3000', `http://127.0.0.1:${options.app}`);
    conf += '\n' + t;
  }
  const nginx = await startNginxConf(dir, conf, [port, ...(tlsPort ? [tlsPort] : [])], options.workerConnections);
  return { url: `http://127.0.0.1:${port}`, httpsUrl: tlsPort ? `https://127.0.0.1:${tlsPort}` : '', ...nginx };
}
