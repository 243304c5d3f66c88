import { compareIds, lastSeen, parseCursor, type Message } from '../../src/protocol';
import { LongPoll, Tally, type PollAnswer } from '../../src/transports';

/** A message of about 100 bytes: two fit in an answer of 250. */
function msg(channel: string, id: string): Message {
  return { channel, id, json: JSON.stringify('x'.repeat(90)) };
}

/** Opens a long poll on `cursor`, hands it `live` in that order, and resolves with its answer. */
function answerTo(cursor: string, live: Message[]): Promise<PollAnswer> {
  return new Promise((resolve) => {
    const poll = new LongPoll({ timeoutMs: 1000, immediate: true, since: cursor, maxBytes: 250 }, new Tally('longpoll'), resolve);
    poll.open({ cursor, resets: [], backlog: [], checkpoint: null });
    for (const m of live) poll.deliver(m);
  });
}

describe('a long poll answered in slices', () => {
  it("covers in its cursor no message it did not carry, when channels' ids interleave (Redis: a sequence per channel)", async () => {
    // Redis gives each channel's stream its own sequence within a millisecond: c2's first
    // message of millisecond 100 is published, and delivered, after c1's third.
    const live = [msg('c1', '100-0'), msg('c1', '100-1'), msg('c1', '100-2'), msg('c2', '100-0')];
    const answer = await answerTo('e1~99-0', live);
    expect(answer.messages.map((m) => m.id)).toEqual(['100-0', '100-1']);
    const cursor = parseCursor(answer.cursor);
    for (const m of live.slice(answer.messages.length)) {
      // The next poll resumes from this cursor: each message left out must be newer than it.
      expect([m.channel, m.id, compareIds(m.id, lastSeen(cursor, m.channel)) > 0]).toEqual([m.channel, m.id, true]);
    }
  });

  it('still moves its base to the last id sent when everything after it is newer', async () => {
    const answer = await answerTo('e1~99-0', [msg('a', '100-0'), msg('b', '100-1'), msg('a', '100-2')]);
    expect(answer.messages).toHaveLength(2);
    expect(parseCursor(answer.cursor)).toMatchObject({ base: '100-1', channels: new Map() });
  });
});
