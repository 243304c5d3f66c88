import type { ChildProcess } from 'node:child_process';
import { ensureBuilt, startSeededServer } from '../helpers/child';
import { expectResponsive, startHealthzProbe } from '../helpers/latency';

/**
 * Reading history for a wildcard costs what the matching channels cost, not the number
 * of channels: with 50 000 channels, polls of 50 patterns that match nothing stay cheap
 * and the server keeps answering others. Default settings otherwise.
 */

const CHANNELS = 50_000;
const PATTERNS = Array.from({ length: 50 }, (_, i) => `x${i}/*`).join(',');
const CLIENTS = 2;
const POLLS_EACH = 15;
const MIN_ATTACK_MS = 1500;
const MAX_POLLS_EACH = 500;

let child: ChildProcess;
let url: string;

beforeAll(async () => {
  await ensureBuilt();
  ({ child, url } = await startSeededServer({}, { channels: CHANNELS, prefix: 'room/' }));
}, 120_000);

afterAll(() => {
  child?.kill('SIGKILL');
});

it(`answers polls of 50 non-matching wildcards over ${CHANNELS} channels without stalling /healthz`, async () => {
  const probe = startHealthzProbe(url);
  await probe.ready;
  const statuses: number[] = [];
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      // At least POLLS_EACH polls each, and for at least MIN_ATTACK_MS, so that the
      // probe has time to sample /healthz however fast the polls are answered.
      for (let i = 0; (i < POLLS_EACH || Date.now() - started < MIN_ATTACK_MS) && i < MAX_POLLS_EACH; i++) {
        const r = await fetch(`${url}/pushframe/poll?channels=${PATTERNS}`);
        await r.text();
        statuses.push(r.status);
      }
    }),
  );
  const elapsed = Date.now() - started;
  const times = await probe.stop();
  expect(statuses.length).toBeGreaterThanOrEqual(CLIENTS * POLLS_EACH);
  expect(statuses.filter((s) => s !== 200)).toEqual([]);
  expectResponsive(times);
  // The old scan took ~360 ms a poll; the tree walk takes milliseconds.
  expect(elapsed / statuses.length).toBeLessThan(150);
}, 60_000);

it('still finds the channels a wildcard does match', async () => {
  const r = await fetch(`${url}/pushframe/poll?channels=room/*&since=${encodeURIComponent('')}`);
  const { cursor } = (await r.json()) as { cursor: string };
  const [epoch] = cursor.split('~');
  // From the start of this epoch: every channel's one message (keep the answer small: one slice).
  const all = await fetch(`${url}/pushframe/poll?channels=room/*&since=${epoch}~0`);
  const body = (await all.json()) as { messages: [string, string, number][] };
  expect(body.messages.length).toBeGreaterThan(1000);
  expect(body.messages.every(([ch, , data]) => ch === `room/${data}`)).toBe(true);
});
