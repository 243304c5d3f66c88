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
