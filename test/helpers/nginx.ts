import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports';

export const NGINX_BIN = '/usr/sbin/nginx';

export interface Nginx {
  /** `http://127.0.0.1:port` */
  readonly url: string;
  readonly port: number;
  /** The error log so far (for failure messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** Upstream `host:port` (loopback). */
  upstream: string;
  /** nginx's idle timeout between two reads from the upstream. */
  proxyReadTimeout: string;
  /** Extra directives inside `location /` (e.g. for a control experiment). */
  locationExtra?: string;
}

/**
 * nginx as a reverse proxy on 127.0.0.1 with its defaults (notably `proxy_buffering on`),
 * run in the foreground from a temporary prefix; everything it writes stays there.
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'pushframe-nginx-'));
  const port = await freePort();
  const server = `
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://${options.upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout ${options.proxyReadTimeout};
      ${options.locationExtra ?? ''}
    }
  }`;
  const nginx = await startNginxConf(dir, server, [port], 256);
  return { url: `http://127.0.0.1:${port}`, port, ...nginx };
}

/**
 * Runs nginx in the foreground from `dir` (a fresh temporary directory, removed by stop)
 * with `servers` as the http block's contents; resolves once every port in `ports` listens.
 */
export async function startNginxConf(
  dir: string,
  servers: string,
  ports: number[],
  workerConnections = 1024,
): Promise<{ errorLog(): string; stop(): Promise<void> }> {
  if (!existsSync(NGINX_BIN)) throw new Error(`${NGINX_BIN} is missing: install the Debian package "nginx-light" (apt-get install nginx-light)`);
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(
    confPath,
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${servers}
}
`,
  );
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', dir, '-c', confPath, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let exited: string | null = null;
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.on('exit', (code, signal) => (exited = `nginx exited (${code ?? signal}): ${stderr.trim()}`));
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  try {
    for (const p of ports) await waitForPort(p, 5000, () => exited);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${errorLog()}`);
  }
  return {
    errorLog,
    async stop() {
      if (exited === null) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
