-- segstream key layout v1: apply one customer's update, atomically, if it is newer than Redis's.
--
-- ARGV: prefix, customer id, version, now (epoch s), update JSON, anonymous TTL s,
--       tombstone TTL s, change-feed MAXLEN.
-- update JSON: {"segments": {segment id: membership JSON} (absent: membership unchanged),
--               "purchases": [cents...], "reason", "rules_version", "model_version",
--               "anonymous": bool, "erased": bool, "alias_of": id (absent: none)}
-- Returns 0 when the update is stale or a replay (version <= stored): nothing is touched, so
-- counters stay exact under at-least-once delivery; otherwise 1.
local prefix, id = ARGV[1], ARGV[2]
local version, now = tonumber(ARGV[3]), ARGV[4]
local update = cjson.decode(ARGV[5])
local anonymous_ttl, tombstone_ttl, maxlen = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]

local customer = prefix .. ':customer:' .. id
local history = customer .. ':history'
-- Membership as published before this update (what the front end showed), and its version.
local flat = redis.call('HGETALL', customer)
local stored, raw_old, updated_old = -1, {}, nil
for i = 1, #flat, 2 do
  if flat[i] == '_version' then
    stored = tonumber(flat[i + 1])
  elseif flat[i] == '_updated_at' then
    updated_old = flat[i + 1]
  elseif string.sub(flat[i], 1, 1) ~= '_' then
    raw_old[flat[i]] = flat[i + 1]
  end
end
if version <= stored then
  return 0
end
local old, any_old = {}, false
for segment, text in pairs(raw_old) do
  old[segment] = cjson.decode(text)
  any_old = true
end

local function metrics(segment, variant)
  return prefix .. ':segment:' .. segment .. ':metrics:' .. variant
end

-- Purchases count for the segments the customer was in when buying.
for _, cents in ipairs(update.purchases or {}) do
  for segment, m in pairs(old) do
    local key = metrics(segment, m.variant)
    redis.call('HINCRBY', key, 'orders', 1)
    redis.call('HINCRBY', key, 'revenue_cents', cents)
    if redis.call('HSETNX', history, 'bought:' .. segment .. ':' .. m.variant, now) == 1 then
      redis.call('HINCRBY', key, 'purchasers', 1)
    end
  end
end

if update.segments == nil then
  -- Purchases only: membership unchanged.
  if any_old then
    redis.call('HSET', customer, '_version', version)
  end
  return 1
end

local function feed(segment, direction, variant)
  redis.call('XADD', prefix .. ':changes', 'MAXLEN', '~', maxlen, '*',
    'customer', id, 'segment', segment, 'direction', direction, 'reason', update.reason,
    'variant', variant, 'rules_version', update.rules_version,
    'model_version', update.model_version, 'version', version, 'at', now)
end

-- A resync publishes every customer again, changed or not (Redis may have lost it).
local resync = update.reason == 'resync'
if resync and stored < 0 and next(update.segments) == nil and not update.alias_of
    and not update.erased then
  return 1  -- in no segment and nothing stored: nothing to rebuild (no tombstone needed)
end

local transitions = 0
local new, fields = {}, {'_version', version, '_updated_at', now}
for segment, text in pairs(update.segments) do
  local m = cjson.decode(text)
  new[segment] = m
  table.insert(fields, segment)
  table.insert(fields, text)
  local was = old[segment]
  if was == nil or was.variant ~= m.variant then
    transitions = transitions + 1
    local key = metrics(segment, m.variant)
    redis.call('HINCRBY', key, 'members', 1)
    if redis.call('HSETNX', history, 'reached:' .. segment .. ':' .. m.variant, now) == 1 then
      redis.call('HINCRBY', key, 'reached', 1)
    end
  end
  if was == nil then
    redis.call('SADD', prefix .. ':segment:' .. segment .. ':members', id)
    redis.call('SADD', prefix .. ':segments', segment)
    feed(segment, 'enter', m.variant)
  end
end
for segment, was in pairs(old) do
  local m = new[segment]
  if m == nil or m.variant ~= was.variant then
    redis.call('HINCRBY', metrics(segment, was.variant), 'members', -1)
  end
  if m == nil then
    redis.call('SREM', prefix .. ':segment:' .. segment .. ':members', id)
    feed(segment, 'exit', was.variant)
    transitions = transitions + 1
  end
end
if resync and transitions == 0 and updated_old then
  fields[4] = updated_old  -- membership did not change: keep when it last did
end

if update.alias_of then
  table.insert(fields, '_alias_of')
  table.insert(fields, update.alias_of)
end
redis.call('DEL', customer)
redis.call('HSET', customer, unpack(fields))
if update.erased then
  redis.call('DEL', history)
end
if next(new) == nil and not update.alias_of then
  -- Only the version is left: kept a while so a stale writer cannot bring old segments back.
  redis.call('EXPIRE', customer, tombstone_ttl)
elseif update.anonymous then
  redis.call('EXPIRE', customer, anonymous_ttl)
  redis.call('EXPIRE', history, anonymous_ttl)
end
return 1
