import { spawnSync } from 'node:child_process';
import { StreamClient } from '../helpers/stream-client';
import { CLI, ensureBuilt, startCli } from '../helpers/child';
import { verifyGrant } from '../../src';

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
