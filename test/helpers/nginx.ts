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
  if (!existsSync(NGINX_BIN)) {
    throw new Error(
      `${NGINX_BIN} is missing: install the Debian package "nginx" (or "nginx-light"): apt-get install nginx-light`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'pushframe-nginx-'));
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const conf = `
${asRoot ? 'user root;' : ''}
worker_processes 1;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://${options.upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout ${options.proxyReadTimeout};
      ${options.locationExtra ?? ''}
    }
  }
}
`;
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const child: ChildProcess = spawn(
    NGINX_BIN,
    ['-p', dir, '-c', confPath, '-e', join(dir, 'error.log'), '-g', `daemon off; pid ${dir}/nginx.pid;`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  let exited: string | null = null;
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (code, signal) => (exited = `nginx exited (${code ?? signal}): ${stderr.trim()}`));
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  try {
    await waitForPort(port, 5000, () => exited);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${errorLog()}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    errorLog,
    async stop() {
      if (exited === null) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM'); // fast shutdown: SIGQUIT would wait for open streams
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
