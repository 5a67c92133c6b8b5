-- segstream key layout v2: publish one customer's membership, atomically, if it is newer than
-- the one Redis holds. The partition's aggregates are counted by write_partition.lua.
--
-- KEYS[1]: {prefix}:customer:{id}
-- ARGV: version, now (epoch s), update JSON, anonymous TTL s, tombstone TTL s.
-- update JSON: {"segments": {segment id: membership JSON} (absent: membership unchanged),
--               "reason", "anonymous": bool, "erased": bool, "alias_of": id (absent: none)}
-- Returns 0 when the update is stale or a replay (version <= stored): nothing is touched;
-- otherwise 1.
local customer = KEYS[1]
local version, now = tonumber(ARGV[1]), ARGV[2]
local update = cjson.decode(ARGV[3])
local anonymous_ttl, tombstone_ttl = tonumber(ARGV[4]), tonumber(ARGV[5])

local flat = redis.call('HGETALL', customer)
local stored, old, any_old, updated_old = -1, {}, false, nil
for i = 1, #flat, 2 do
  local name = flat[i]
  if name == '_version' then
    stored = tonumber(flat[i + 1])
  elseif name == '_updated_at' then
    updated_old = flat[i + 1]
  elseif string.sub(name, 1, 1) ~= '_' then
    old[name] = flat[i + 1]
    any_old = true
  end
end
if version <= stored then
  return 0
end

if update.segments == nil then
  -- Purchases only: membership unchanged.
  if any_old then
    redis.call('HSET', customer, '_version', version)
  end
  return 1
end

-- A resync publishes every customer again, changed or not (Redis may have lost it).
local resync = update.reason == 'resync'
if resync and stored < 0 and next(update.segments) == nil and not update.alias_of
    and not update.erased then
  return 1  -- in no segment and nothing stored: nothing to rebuild (no tombstone needed)
end

local function same_membership()
  for segment, text in pairs(update.segments) do
    local was = old[segment]
    if was == nil or cjson.decode(was).variant ~= cjson.decode(text).variant then
      return false
    end
  end
  for segment in pairs(old) do
    if update.segments[segment] == nil then
      return false
    end
  end
  return true
end

local fields = {'_version', version, '_updated_at', now}
if resync and updated_old and same_membership() then
  fields[4] = updated_old  -- membership did not change: keep when it last did
end
for segment, text in pairs(update.segments) do
  table.insert(fields, segment)
  table.insert(fields, text)
end
if update.alias_of then
  table.insert(fields, '_alias_of')
  table.insert(fields, update.alias_of)
end
redis.call('DEL', customer)
redis.call('HSET', customer, unpack(fields))
if next(update.segments) == nil and not update.alias_of then
  -- Only the version is left: kept a while so a stale writer cannot bring old segments back.
  redis.call('EXPIRE', customer, tombstone_ttl)
elseif update.anonymous then
  redis.call('EXPIRE', customer, anonymous_ttl)
end
return 1
