/**
 * What the bench runs. A scenario says what each stream subscribes to and how the
 * messages are published; N, M, rate and burst can be overridden from the command line.
 */

export interface Scenario {
  name: string;
  what: string;
  /** The subscription of stream i of n (a comma-separated pattern list). */
  subscription(i: number, n: number): string;
  /** The channels messages go to, round-robin by sequence number. */
  channels(n: number): string[];
  /** Default message count for n streams. */
  messages(n: number): number;
  rate: number;
  burst: number;
  /** Streams, when not the command line's --n (the memory and storm scenarios need more). */
  n?: number;
  /** Handshakes in flight while opening, when not --parallel. */
  parallel?: number;
  /**
   * A reconnect storm: the streams open, every client drops its connection, the
   * messages are published while they are away, and all come back at once with the
   * cursor of their open frame; the messages arrive as each stream's backlog.
   */
  storm?: boolean;
  /** Its figures are openings: the run waits for earlier runs' sockets to leave TIME_WAIT (run.ts). */
  settle?: boolean;
  /**
   * No forced collection before the measured openings, and so no memory figures: a full
   * collection just before them changes both servers' next openings, unequally
   * (BENCHMARKS.md, "open: without a forced collection before the openings").
   */
  noCollection?: boolean;
}

/** Streams per channel in the many-channels scenario. */
const ROOM_SIZE = 5;
/** Streams per channel in the reconnect storm, and messages each stream missed. */
const STORM_ROOM = 100;
const STORM_BACKLOG = 3;
const SYMBOLS = 50;

const rooms = (n: number): number => Math.max(1, Math.ceil(n / ROOM_SIZE));
const stormRooms = (n: number): number => Math.max(1, Math.ceil(n / STORM_ROOM));

export const SCENARIOS: Scenario[] = [
  {
    name: 'fanout',
    what: 'one channel, every stream subscribed, published as fast as the server turns its event loop',
    subscription: () => 'bench/fan',
    channels: () => ['bench/fan'],
    messages: () => 200,
    rate: 0,
    burst: 1,
  },
  {
    name: 'fanout-rate',
    what: 'one channel, every stream subscribed, a moderate fixed rate (latency)',
    subscription: () => 'bench/fan',
    channels: () => ['bench/fan'],
    messages: () => 40,
    rate: 4,
    burst: 1,
  },
  {
    name: 'channels',
    what: `one channel per ${ROOM_SIZE} streams, messages round-robin over the channels, as fast as possible`,
    subscription: (i, n) => 'room/r' + (i % rooms(n)),
    channels: (n) => Array.from({ length: rooms(n) }, (_, k) => 'room/r' + k),
    messages: (n) => rooms(n) * 20,
    rate: 0,
    burst: 1,
  },
  {
    name: 'wildcard',
    what: `every stream subscribed to stocks/*, messages round-robin over ${SYMBOLS} stocks/<symbol> channels`,
    subscription: () => 'stocks/*',
    channels: () => Array.from({ length: SYMBOLS }, (_, k) => 'stocks/s' + k),
    messages: () => 200,
    rate: 0,
    burst: 1,
  },
  {
    name: 'burst',
    what: 'one channel, bursts of 20 messages published in the same tick, 10 bursts a second',
    subscription: () => 'bench/fan',
    channels: () => ['bench/fan'],
    messages: () => 200,
    rate: 200,
    burst: 20,
  },
  {
    name: 'memory',
    what: 'memory: 19 500 streams on one channel, idle; then 5 messages to check they all still deliver',
    // 19 500, not 20 000: the generator and the server each hold one socket per stream,
    // and a container's hard open-file limit is often 20 000 (raise --n where it is not).
    n: 19_500,
    subscription: () => 'bench/fan',
    channels: () => ['bench/fan'],
    messages: () => 5,
    rate: 0,
    burst: 1,
  },
  {
    name: 'open',
    what: 'opening cost: N streams opened (200 handshakes in flight), then 1 message to check they all deliver',
    settle: true,
    noCollection: true,
    subscription: () => 'bench/fan',
    channels: () => ['bench/fan'],
    messages: () => 1,
    rate: 0,
    burst: 1,
  },
  {
    name: 'storm',
    what: `reconnect storm: 10 000 streams (${STORM_ROOM} per channel) drop, ${STORM_BACKLOG} messages per channel are published, all come back at once with their cursors`,
    n: 10_000,
    parallel: 1000,
    storm: true,
    settle: true,
    subscription: (i, n) => 'storm/r' + (i % stormRooms(n)),
    channels: (n) => Array.from({ length: stormRooms(n) }, (_, k) => 'storm/r' + k),
    messages: (n) => stormRooms(n) * STORM_BACKLOG,
    rate: 0,
    burst: 1,
  },
];

/** Whether `channel` is delivered to a stream subscribed to `pattern` (the bench's patterns only). */
export function benchMatches(pattern: string, channel: string): boolean {
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -1);
    return channel.startsWith(prefix) && channel.indexOf('/', prefix.length) === -1;
  }
  return pattern === channel;
}

/** How many of `count` messages (round-robin over `channels`) a subscription receives. */
export function expectedFor(subscription: string, channels: readonly string[], count: number): number {
  const patterns = subscription.split(',');
  let total = 0;
  for (let k = 0; k < channels.length; k++) {
    if (!patterns.some((p) => benchMatches(p, channels[k]))) continue;
    // Messages k, k + C, k + 2C, ... below count.
    total += k < count ? Math.floor((count - 1 - k) / channels.length) + 1 : 0;
  }
  return total;
}
