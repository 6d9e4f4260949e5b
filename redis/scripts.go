package redis

import goredis "github.com/redis/go-redis/v9"

// Times in hashes are "seconds.nanoseconds" (nine digits) since the Unix
// epoch, "" for the zero time: exact, readable, and comparable in Lua, whose
// numbers (doubles) cannot hold nanoseconds since 1970 exactly.
const luaTimeLess = `
local function time_less(a, b)
  if a == b then return false end
  if a == '' then return true end
  if b == '' then return false end
  local as, an = string.match(a, '^(-?%d+)%.(%d+)$')
  local bs, bn = string.match(b, '^(-?%d+)%.(%d+)$')
  as, bs = tonumber(as), tonumber(bs)
  if as ~= bs then return as < bs end
  return tonumber(an) < tonumber(bn)
end
`

// putTicketScript stores a ticket unless the stored one was created later.
//
// KEYS[1] ticket hash
// ARGV    value, created_at, received_at, channel, change payload
var putTicketScript = goredis.NewScript(luaTimeLess + `
local stored = redis.call('HGET', KEYS[1], 'created_at')
if stored and time_less(ARGV[2], stored) then
  return 0
end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'created_at', ARGV[2], 'received_at', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// putComponentTokenScript replaces the component token and announces it.
//
// KEYS[1] component token hash
// ARGV    value, expires_at, obtained_at, channel, change payload
var putComponentTokenScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'expires_at', ARGV[2], 'obtained_at', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// putAuthorizerScript is the compare-and-set on an authorizer's version. It
// writes every field (so a cleared field does not survive from the previous
// version), keeps the AppID index and the due-time index, and announces the
// change, or does nothing and returns -1.
//
// KEYS[1] authorizer hash, KEYS[2] AppID index, KEYS[3] due-time index
// ARGV    expected version, appid, due score ("" when not authorized),
//
//	channel, change payload, then field/value pairs
var putAuthorizerScript = goredis.NewScript(`
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return -1
end
local version = current + 1
redis.call('HSET', KEYS[1], 'version', version, unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], 0, ARGV[2])
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[3], ARGV[2])
else
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return version
`)

// acquireLeaseScript takes the lease when it is free, expired at now, or
// already the owner's. It returns {1} or {0, holder}.
//
// KEYS[1] lease hash
// ARGV    owner, now, expires_at
var acquireLeaseScript = goredis.NewScript(luaTimeLess + `
local holder = redis.call('HGET', KEYS[1], 'owner')
if holder and holder ~= ARGV[1] then
  local expires = redis.call('HGET', KEYS[1], 'expires_at') or ''
  if time_less(ARGV[2], expires) then
    return {0, holder}
  end
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'expires_at', ARGV[3])
return {1}
`)

// releaseLeaseScript deletes the lease if owner still holds it.
//
// KEYS[1] lease hash
// ARGV    owner
var releaseLeaseScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// appendEventScript takes the next ID of the audit log and appends the event
// under it to its platform's stream and, for an authorizer's event, to that
// authorizer's stream. Stream IDs are "ID-0", so XRANGE pages by ID.
//
// KEYS[1] ID counter, KEYS[2] platform stream, KEYS[3] authorizer stream (optional)
// ARGV    field/value pairs
var appendEventScript = goredis.NewScript(`
local id = redis.call('INCR', KEYS[1])
local sid = string.format('%d-0', id)
redis.call('XADD', KEYS[2], sid, unpack(ARGV))
if KEYS[3] then
  redis.call('XADD', KEYS[3], sid, unpack(ARGV))
end
return id
`)
