import type { PushframeServer } from '../../src';
import { errorCode, get } from '../helpers/http';
import { publish, startTestServer } from '../helpers/server';
import { SseClient } from '../helpers/sse-client';
import { StreamClient } from '../helpers/stream-client';

/**
 * A page that gave up on a stream (its path went dead: no FIN ever reaches the server)
 * names it in the request that replaces it (`replaces=`, src/http/replacing.ts). The
 * server ends the old stream, so it gives back its slots and its browser's budget share
 * at once instead of after TCP's retransmission timeout.
 * The dead streams here are clients that simply stay connected: to the server, a stream
 * over a black hole looks exactly like that.
 */

let server: PushframeServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const TOKEN = /^[A-Za-z0-9_-]{22}$/;

/** A new browser's first stream, and the cookie it was given. */
async function firstStream(): Promise<{ stream: StreamClient; cookie: Record<string, string> }> {
  const stream = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`);
  const m = /pf_browser=([A-Za-z0-9_-]{22});/.exec(String(stream.res.headers['set-cookie']));
  expect(m).not.toBeNull();
  await stream.waitForFrame('o');
  return { stream, cookie: { cookie: 'pf_browser=' + m![1] } };
}

const tokenOf = (c: StreamClient): string => c.frames.find((f) => f.type === 'o')!.args[2] as string;
const drops = async (): Promise<Record<string, number>> => ((await (await fetch(server.url + '/pushframe/stats')).json()) as { drops: Record<string, number> }).drops;

it('every held stream carries its own token in the open frame', async () => {
  const { stream, cookie } = await firstStream();
  expect(tokenOf(stream)).toMatch(TOKEN);
  const second = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`, cookie);
  const cookieless = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`);
  await Promise.all([second.waitForFrame('o'), cookieless.waitForFrame('o')]);
  const tokens = [stream, second, cookieless].map(tokenOf);
  for (const t of tokens) expect(t).toMatch(TOKEN);
  expect(new Set(tokens).size).toBe(3);
  for (const c of [stream, second, cookieless]) c.close();
});

it('the request that names a dead stream ends it and takes its share: not capped', async () => {
  const { stream: dead1, cookie } = await firstStream();
  const dead2 = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`, cookie);
  await dead2.waitForFrame('o');
  const before = (await drops()).replaced ?? 0;

  // The budget (2) is full. Without `replaces`, a third stream is capped: it ends with p.r.
  const capped = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`, cookie);
  await capped.waitForEnd();
  expect(capped.frames.map((f) => f.type)).toEqual(['o', 'r']);
  expect(capped.frames[0].args).toHaveLength(2);

  // Naming the first dead stream: it ends, and the new one is held and delivers.
  const next = await StreamClient.open(`${server.url}/pushframe/stream?channels=a&replaces=${tokenOf(dead1)}`, cookie);
  await dead1.waitForEnd();
  // A complete response (its last chunk), not a cut: a proxy in front, whose browser side
  // is the path that died, would count a cut as this node failing.
  expect(dead1.res.complete).toBe(true);
  await next.waitForFrame('o');
  await publish(server, 'a', '{"n":1}');
  await next.waitForMessages(1);
  expect(next.ended).toBe(false);
  expect(dead2.ended).toBe(false);
  expect((await drops()).replaced).toBe(before + 1);

  // The page names the new stream's predecessor each time: a second dead path, a second replace.
  const after = await StreamClient.open(`${server.url}/pushframe/stream?channels=a&replaces=${tokenOf(next)}`, cookie);
  await next.waitForEnd();
  await after.waitForFrame('o');
  await publish(server, 'a', '{"n":2}');
  await after.waitForMessages(1);
  expect(after.messages[0].data).toEqual({ n: 2 });
  for (const c of [dead2, after]) c.close();
});

it('a cross-site page (no cookie) replaces its dead stream too; a token works once, and an unknown one changes nothing', async () => {
  const dead = await StreamClient.open(`${server.url}/pushframe/stream?channels=a`);
  await dead.waitForFrame('o');
  const token = tokenOf(dead);
  const next = await StreamClient.open(`${server.url}/pushframe/stream?channels=a&replaces=${token}`);
  await dead.waitForEnd();
  await next.waitForFrame('o');
  // The same token again (a retry that carried it, say) ends nothing more.
  const again = await StreamClient.open(`${server.url}/pushframe/stream?channels=a&replaces=${token}`);
  const unknown = await StreamClient.open(`${server.url}/pushframe/stream?channels=a&replaces=${'A'.repeat(22)}`);
  await Promise.all([again.waitForFrame('o'), unknown.waitForFrame('o')]);
  await publish(server, 'a', '{"n":3}');
  await Promise.all([next.waitForMessages(1), again.waitForMessages(1), unknown.waitForMessages(1)]);
  for (const c of [next, again, unknown]) expect(c.ended).toBe(false);
  for (const c of [next, again, unknown]) c.close();
});

it('a malformed token is a clear 400, before any slot is taken', async () => {
  const r = await get(`${server.url}/pushframe/stream?channels=a&replaces=${encodeURIComponent('<script>')}`);
  expect(r.status).toBe(400);
  expect(errorCode(r.body)).toBe('bad_request');
  expect(r.body).not.toContain('<script>');
});

it('server-sent events: the ready event names the stream, and replaces= ends it', async () => {
  const { stream, cookie } = await firstStream();
  stream.close();
  const first = await SseClient.open(`${server.url}/pushframe/events?channels=a`, cookie);
  await first.waitForEvent('ready');
  const ready = JSON.parse(first.events.find((e) => e.event === 'ready')!.data) as { stream: string };
  expect(ready.stream).toMatch(TOKEN);
  const next = await SseClient.open(`${server.url}/pushframe/events?channels=a&replaces=${ready.stream}`, cookie);
  await first.waitForEnd();
  expect(first.res.complete).toBe(true);
  await next.waitForEvent('ready');
  next.close();
});
