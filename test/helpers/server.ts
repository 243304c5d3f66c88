import { startServer, type PushframeServer, type StartOptions } from '../../src';

/** A real server on 127.0.0.1 and an ephemeral port, quiet, with short timers. */
export function startTestServer(options: StartOptions = {}): Promise<PushframeServer> {
  return startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', statsIntervalMs: 0, demo: false, ...options });
}

export async function publish(
  server: PushframeServer,
  channel: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${server.url}/pushframe/publish/${channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: the test sees the text
  }
  return { status: res.status, json, headers: res.headers };
}

/** An HTTP request with the path sent exactly as given (fetch would normalise `..`). */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  body = '',
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = require('node:http').request(
      { host: hostname, port, method, path, headers: { 'content-type': 'application/json', ...headers }, agent: false },
      (res: import('node:http').IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
