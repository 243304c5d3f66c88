import { createHash } from 'node:crypto';
import type Redis from 'ioredis';

/**
 * Lua scripts: each publish, history read and sweep is one atomic step in Redis, so
 * every node sees a channel's history, its trim mark and its pub/sub message agree.
 * Keys are built inside the sweep script, so this broker targets a single Redis (or a
 * primary with replicas), not Redis Cluster.
 */
export class Script {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** EVALSHA, falling back to EVAL when Redis does not know the script (e.g. after a restart). */
  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, keys.length, ...keys, ...args);
      }
      throw err;
    }
  }
}

const COMPARE = `
local function parts(id)
  local a, b = string.match(id, '^(%d+)-?(%d*)$')
  return tonumber(a), tonumber(b) or 0
end
local function newer(a, b)
  local a1, a2 = parts(a)
  local b1, b2 = parts(b)
  if a1 ~= b1 then return a1 > b1 end
  return a2 > b2
end
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** KEYS: epoch. ARGV: a fresh token, kept only if none is stored yet. */
export const EPOCH = new Script(`
local e = redis.call('GET', KEYS[1])
if e then return e end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`);

/**
 * KEYS: stream, trimmed, names, recent.
 * ARGV: channel, json, key-length field ('-' for none), key, maxCount, pub/sub channel.
 * XADD * gives id max(now-0, last+1); count trimming is exact so the trim mark is the
 * id of the newest message that left. The pub/sub payload carries Redis's time of the
 * publish: every later publish gets a greater time, hence an id of at least `time-0`.
 */
export const PUBLISH = new Script(`
local id
if ARGV[3] == '-' then
  id = redis.call('XADD', KEYS[1], '*', 'j', ARGV[2])
else
  id = redis.call('XADD', KEYS[1], '*', 'j', ARGV[2], 'k', ARGV[4])
end
local max = tonumber(ARGV[5])
local len = redis.call('XLEN', KEYS[1])
if len > max then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - max)
  redis.call('HSET', KEYS[2], ARGV[1], gone[#gone][1])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', max)
end
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], string.match(id, '^(%d+)'), ARGV[1])
local t = redis.call('TIME')
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local head = '2 ' .. id .. ' ' .. now .. ' ' .. ARGV[1] .. ' ' .. ARGV[3] .. ' '
if ARGV[3] ~= '-' then head = head .. ARGV[4] end
redis.call('PUBLISH', ARGV[6], head .. ARGV[2])
return id
`);

/**
 * KEYS: names, recent. ARGV: lex range low, high, a time (ms).
 * The channels a wildcard replay must look at: those under the pattern's prefix, or those
 * published on since the cursor's base (a channel idle since then has nothing newer),
 * whichever list is shorter. The caller filters either with matches().
 */
export const CANDIDATES = new Script(`
local byName = redis.call('ZLEXCOUNT', KEYS[1], ARGV[1], ARGV[2])
local byTime = redis.call('ZCOUNT', KEYS[2], ARGV[3], '+inf')
if byTime < byName then return redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[3], '+inf') end
return redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])
`);

/**
 * KEYS: stream, trimmed, forgotten. ARGV: channel, seen id, maxAgeMs.
 * Drops entries older than maxAgeMs (by the ms part of their id, Redis's own clock),
 * then returns { trim mark, stream exists, forgotten mark, entries after seen }.
 */
export const HISTORY = new Script(`
${COMPARE}
local minms = nowms() - tonumber(ARGV[3])
if minms > 0 then
  local old = redis.call('XREVRANGE', KEYS[1], '(' .. string.format('%d', minms) .. '-0', '-', 'COUNT', 1)
  if old[1] then
    redis.call('HSET', KEYS[2], ARGV[1], old[1][1])
    redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d', minms))
  end
end
return {
  redis.call('HGET', KEYS[2], ARGV[1]),
  redis.call('EXISTS', KEYS[1]),
  redis.call('GET', KEYS[3]),
  redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+')
}
`);

/**
 * KEYS: recent, names, trimmed, forgotten. ARGV: maxAgeMs, stream key prefix, batch size.
 * Channels idle for longer than maxAgeMs hold only expired messages: drop them whole
 * and raise the forgotten mark to their newest id, so resuming clients get a reset.
 * Returns { channels dropped, channels left }.
 */
export const SWEEP = new Script(`
${COMPARE}
local cutoff = nowms() - tonumber(ARGV[1])
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', cutoff), 'LIMIT', 0, tonumber(ARGV[3]))
local forgotten = redis.call('GET', KEYS[4])
for _, ch in ipairs(stale) do
  local s = ARGV[2] .. ch
  local last = redis.call('XREVRANGE', s, '+', '-', 'COUNT', 1)
  local lastId = redis.call('HGET', KEYS[3], ch)
  if last[1] and (not lastId or newer(last[1][1], lastId)) then lastId = last[1][1] end
  if lastId and (not forgotten or newer(lastId, forgotten)) then forgotten = lastId end
  redis.call('DEL', s)
  redis.call('HDEL', KEYS[3], ch)
  redis.call('ZREM', KEYS[2], ch)
  redis.call('ZREM', KEYS[1], ch)
end
if forgotten then redis.call('SET', KEYS[4], forgotten) end
return { #stale, redis.call('ZCARD', KEYS[2]) }
`);
