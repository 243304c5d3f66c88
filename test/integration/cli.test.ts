import { spawn, spawnSync } from 'node:child_process';
import { StreamClient } from '../helpers/stream-client';
import { CLI, ensureBuilt, startCli } from '../helpers/child';
import { freePort } from '../helpers/ports';
import { startTestServer } from '../helpers/server';
import { verifyGrant, type PushframeServer } from '../../src';

beforeAll(() => ensureBuilt(), 120_000);

describe('the CLI in production mode', () => {
  it('refuses to start without a publish key: exit code 2 and a message naming the variable', () => {
    const r = spawnSync(process.execPath, [CLI], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^pushframe: production mode needs a publish key: set PUSHFRAME_PUBLISH_KEY/);
    expect(r.stdout).toBe('');
  });

  it('starts with one', async () => {
    const s = await startCli({ NODE_ENV: 'production', PUSHFRAME_PUBLISH_KEY: 'k-123' });
    try {
      const res = await fetch(`${s.url}/pushframe/publish/a`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '1' });
      expect(res.status).toBe(401);
    } finally {
      s.child.kill('SIGKILL');
      await s.exited;
    }
  });

  it('rejects bad limits with exit code 2', () => {
    const r = spawnSync(process.execPath, [CLI, '--max-connections-per-ip', '0'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/maxConnectionsPerIp: 0 is out of range/);
  });
});

describe('graceful shutdown on SIGTERM', () => {
  const JITTER_MS = 2000;
  const DEADLINE_MS = 3000;
  const STREAMS = 20;

  it('tells every stream to reconnect after a jittered delay, stops accepting, and exits 0 within the deadline', async () => {
    const s = await startCli({
      PUSHFRAME_RECONNECT_JITTER_MS: String(JITTER_MS),
      PUSHFRAME_SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS),
      PUSHFRAME_HEARTBEAT_MS: '60000',
    });
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, () => StreamClient.open(`${s.url}/pushframe/stream?channels=a`)),
    );
    await Promise.all(streams.map((c) => c.waitForFrame('o')));
    // One client ignores the instruction and keeps its socket: the deadline still holds.
    const stubborn = await StreamClient.open(`${s.url}/pushframe/stream?channels=a`, { connection: 'keep-alive' });
    await stubborn.waitForFrame('o');

    const signalled = Date.now();
    s.child.kill('SIGTERM');
    await Promise.all(streams.map((c) => c.waitForEnd(DEADLINE_MS)));

    const delays = streams.map((c) => {
      const last = c.frames[c.frames.length - 1];
      expect(last.type).toBe('r');
      return last.args[0] as number;
    });
    for (const d of delays) {
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(JITTER_MS);
    }
    // Spread, not a thundering herd.
    expect(new Set(delays).size).toBeGreaterThan(STREAMS / 2);

    // No new connections while draining.
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();

    const { code, at } = await s.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(DEADLINE_MS + 1500);
    expect(s.stdout()).toContain('"msg":"shutting down: streams are told to reconnect elsewhere"');
    stubborn.close();
  }, 30_000);
});

describe('pushframe grant', () => {
  const run = (args: string[], env: Record<string, string>): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [CLI, 'grant', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 10_000 });

  it('prints a grant the server accepts', () => {
    const r = run(['user:42/**,news', '--ttl', '600'], { PUSHFRAME_SECRET: 's3cret' });
    expect(r.status).toBe(0);
    const g = verifyGrant('s3cret', String(r.stdout).trim());
    expect(g.patterns).toEqual(['user:42/**', 'news']);
    expect(g.expiresAt * 1000 - Date.now()).toBeGreaterThan(590_000);
    expect(g.expiresAt * 1000 - Date.now()).toBeLessThanOrEqual(601_000);
  });

  it('explains what is missing, with exit code 2', () => {
    const noSecret = run(['a'], {});
    expect([noSecret.status, String(noSecret.stderr)]).toEqual([2, expect.stringMatching(/set PUSHFRAME_SECRET/)]);
    const badPattern = run(['a/../b'], { PUSHFRAME_SECRET: 's' });
    expect([badPattern.status, String(badPattern.stderr)]).toEqual([2, expect.stringMatching(/is not a channel pattern/)]);
  });
});

describe('pushframe publish', () => {
  // Async: the server under test runs in this process, so the CLI must not block it.
  const run = (args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, 'publish', ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  let server: PushframeServer;
  beforeAll(async () => {
    server = await startTestServer({ prefix: '/live' });
  });
  afterAll(() => server.close());

  it('finds the server from PORT, HOST and PUSHFRAME_PREFIX, or from --port, --host and --prefix', async () => {
    const fromEnv = await run(['news', '{"a":1}'], { PORT: String(server.port), HOST: '127.0.0.1', PUSHFRAME_PREFIX: '/live' });
    expect([fromEnv.status, fromEnv.stderr]).toEqual([0, '']);
    expect(JSON.parse(fromEnv.stdout)).toEqual({ id: expect.any(String) });
    const fromFlags = await run(['news', '{"a":2}', '--port', String(server.port), '--host', '127.0.0.1', '--prefix=/live'], { PORT: '1' });
    expect([fromFlags.status, fromFlags.stderr]).toEqual([0, '']);
    const fromPushframeEnv = await run(['news', '{"a":3}'], { PUSHFRAME_PORT: String(server.port), PUSHFRAME_HOST: '0.0.0.0', PUSHFRAME_PREFIX: '/live', PORT: '1' });
    expect([fromPushframeEnv.status, fromPushframeEnv.stderr]).toEqual([0, '']);
    expect(server.stats().messages.published).toBe(3);
  });

  it('says in one line, with no stack, that no server answered, and exits non-zero', async () => {
    const port = await freePort();
    const r = await run(['news', '{"a":1}', '--port', String(port), '--host', '127.0.0.1'], {});
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`pushframe: no server answered at http://127.0.0.1:${port}/pushframe (ECONNREFUSED); start one, or point to it with --url, --port, --host or --prefix\n`);
    const badPort = await run(['news', '1', '--port', 'eighty'], {});
    expect([badPort.status, badPort.stderr]).toEqual([2, 'pushframe: the port must be a number from 0 to 65535, got "eighty"\n']);
  });
});
