"""Lua scripts that keep a swarm's peers and counts consistent inside Redis (atomic per call).

Records use the layout of :mod:`tracker.peer_records`: the compact address and port, then a
21-byte tail (``struct`` format ``>BIll``: flags, last seen, uploaded, downloaded).
"""

from __future__ import annotations

# KEYS: peers (hash key -> record), seen (zset key -> last seen), counts (hash).
_FORGET = """
local function forget(k)
  local rec = redis.call('HGET', KEYS[1], k)
  if rec then
    redis.call('HDEL', KEYS[1], k)
    redis.call('ZREM', KEYS[2], k)
    local flags = struct.unpack('>B', rec, #rec - 20)
    if flags % 2 == 1 then redis.call('HINCRBY', KEYS[3], 'seeders', -1) end
  end
  return rec
end
local function purge(oldest, limit)
  local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. oldest, 'LIMIT', 0, limit)
  for _, k in ipairs(stale) do forget(k) end
  return #stale
end
"""

# KEYS: peers, seen, counts, swarm registration.
# ARGV: peer key, record, seeder, event, now, oldest, uploaded, downloaded, look at, max peers,
#       numwant.
# Returns {seeders, leechers, completed, IPv4 compact peers, their ids, IPv6 peers, their ids}:
# peers already filtered (not itself, not stale, no seeder for a seeder) and concatenated, so
# the reply is four strings however many peers it carries.
ANNOUNCE = (
    _FORGET
    + """
if redis.call('EXISTS', KEYS[4]) == 0 then return {-1} end
purge(ARGV[6], 16)
local prev = forget(ARGV[1])
local pup, pdown, pseed = 0, 0, 0
if prev then
  local f, _, u, d = struct.unpack('>BIll', prev, #prev - 20)
  pup, pdown, pseed = u, d, f % 2
end
local up = tonumber(ARGV[7]) - pup
local down = tonumber(ARGV[8]) - pdown
if up > 0 then redis.call('HINCRBY', KEYS[3], 'uploaded', string.format('%d', up)) end
if down > 0 then redis.call('HINCRBY', KEYS[3], 'downloaded', string.format('%d', down)) end
local v4, ids4, v6, ids6 = {}, {}, {}, {}
if ARGV[4] ~= 'stopped' then
  if not prev and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[10]) then return {-2} end
  if ARGV[4] == 'completed' and pseed == 0 then redis.call('HINCRBY', KEYS[3], 'completed', 1) end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
  if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[3], 'seeders', 1) end
  local wanted = tonumber(ARGV[11])
  if tonumber(ARGV[9]) > 0 then
    local picked = redis.call('HRANDFIELD', KEYS[1], ARGV[9], 'WITHVALUES')
    local oldest = tonumber(ARGV[6])
    local skip_seeders = ARGV[3] == '1'
    local found = 0
    for at = 1, #picked, 2 do
      local k, rec = picked[at], picked[at + 1]
      local flags, seen = struct.unpack('>BI', rec, #rec - 20)
      if k ~= ARGV[1] and seen >= oldest and not (skip_seeders and flags % 2 == 1) then
        local compact = string.sub(rec, 1, #rec - 21)
        if #compact == 6 then
          v4[#v4 + 1] = compact
          ids4[#ids4 + 1] = string.sub(k, 9)
        else
          v6[#v6 + 1] = compact
          ids6[#ids6 + 1] = string.sub(k, 9)
        end
        found = found + 1
        if found >= wanted then break end
      end
    end
  end
end
local counts = redis.call('HMGET', KEYS[3], 'seeders', 'completed')
local seeders = tonumber(counts[1] or '0')
return {seeders, redis.call('HLEN', KEYS[1]) - seeders, tonumber(counts[2] or '0'),
        table.concat(v4), table.concat(ids4), table.concat(v6), table.concat(ids6)}
"""
)

# KEYS: peers, seen, counts. ARGV: oldest. Returns how many peers were dropped.
PURGE = _FORGET + "return purge(ARGV[1], 100000)"

# KEYS: one registration hash per announced info-hash, then the set of all announced hashes.
# ARGV: game id, release, v1 hex, v2 hex (or ''), then each announced hash in hex.
REGISTER = """
local n = #KEYS - 1
local present = 0
for i = 1, n do
  local g = redis.call('HMGET', KEYS[i], 'game_id', 'release', 'v1', 'v2')
  if g[1] then
    if g[1] ~= ARGV[1] or g[2] ~= ARGV[2] or g[3] ~= ARGV[3] or g[4] ~= ARGV[4] then
      return {'conflict', ARGV[4 + i], g[1], g[2]}
    end
    present = present + 1
  end
end
if present == n then return {'same'} end
for i = 1, n do
  redis.call('HSET', KEYS[i], 'game_id', ARGV[1], 'release', ARGV[2], 'v1', ARGV[3], 'v2', ARGV[4])
  redis.call('SADD', KEYS[n + 1], ARGV[4 + i])
end
return {'new'}
"""

# KEYS: counters of this window. ARGV: their lifetime in seconds, then what to add to each.
# Returns each counter's new total.
RATE = """
local totals = {}
for i, key in ipairs(KEYS) do
  totals[i] = redis.call('INCRBY', key, ARGV[i + 1])
  if totals[i] == tonumber(ARGV[i + 1]) then redis.call('EXPIRE', key, ARGV[1]) end
end
return totals
"""
