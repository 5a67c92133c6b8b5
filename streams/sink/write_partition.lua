-- segstream key layout v2: count one envelope's customers into their partition's aggregates.
--
-- Each customer has a ledger in the partition's slot: the segments and variants the aggregates
-- count it in, and which it ever reached and bought in. Transitions are the difference between
-- the ledger and the new membership, so member sets, counters and the change feed agree with the
-- ledgers whatever happened to the customers' hashes (a failover, a replay, a stale writer).
--
-- KEYS: metrics hash, changes stream, meta hash, then one ledger per customer (in the order of
--       "customers"), then the member sets named by "members".
-- ARGV: version, now (epoch s), change-feed MAXLEN, anonymous TTL s, tombstone TTL s, batch JSON:
--   {"customers": [{"id", "segments": {segment id: variant} (absent: membership unchanged),
--                   "purchases": [cents...], "reason", "rules_version", "model_version",
--                   "anonymous": bool, "erased": bool, "alias": bool}],
--    "members": {segment id: index in KEYS of its member set}, "meta": {field: value}}
-- Returns {count of customers applied}, or, when a ledger names a segment whose member set is
-- not in KEYS, {-1, segment...} with nothing written: the caller declares them and calls again.
local metrics, changes, meta = KEYS[1], KEYS[2], KEYS[3]
local version, now, maxlen = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local anonymous_ttl, tombstone_ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local batch = cjson.decode(ARGV[6])
local member_sets = batch.members

local function read_ledger(key)
  local flat = redis.call('HGETALL', key)
  local stored, old = -1, {}
  for i = 1, #flat, 2 do
    local name = flat[i]
    if name == '_version' then
      stored = tonumber(flat[i + 1])
    elseif string.sub(name, 1, 2) == 'm:' then
      old[string.sub(name, 3)] = flat[i + 1]
    end
  end
  return {stored = stored, old = old}
end

local ledgers, missing = {}, {}
for i, customer in ipairs(batch.customers) do
  local ledger = read_ledger(KEYS[3 + i])
  ledgers[i] = ledger
  if version > ledger.stored then
    for segment in pairs(ledger.old) do
      if member_sets[segment] == nil then
        table.insert(missing, segment)
      end
    end
  end
end
if #missing > 0 then
  return {-1, unpack(missing)}
end

local function count(segment, variant, counter, by)
  redis.call('HINCRBY', metrics, segment .. ':' .. variant .. ':' .. counter, by)
end

local function apply(customer, key, ledger)
  local old = ledger.old
  -- Purchases count for the segments the customer was in when buying.
  for _, cents in ipairs(customer.purchases or {}) do
    for segment, variant in pairs(old) do
      count(segment, variant, 'orders', 1)
      count(segment, variant, 'revenue_cents', cents)
      if redis.call('HSETNX', key, 'b:' .. segment .. ':' .. variant, now) == 1 then
        count(segment, variant, 'purchasers', 1)
      end
    end
  end
  local new = customer.segments
  if new == nil then
    if next(old) ~= nil then
      redis.call('HSET', key, '_version', version)
    end
    return
  end
  if customer.reason == 'resync' and ledger.stored < 0 and next(new) == nil
      and not customer.alias and not customer.erased then
    return  -- in no segment and nothing counted: nothing to rebuild
  end

  local function feed(segment, direction, variant)
    redis.call('XADD', changes, 'MAXLEN', '~', maxlen, '*',
      'customer', customer.id, 'segment', segment, 'direction', direction,
      'reason', customer.reason, 'variant', variant, 'rules_version', customer.rules_version,
      'model_version', customer.model_version, 'version', version, 'at', now)
  end

  local fields = {'_version', version}
  for segment, variant in pairs(new) do
    table.insert(fields, 'm:' .. segment)
    table.insert(fields, variant)
    local was = old[segment]
    if was ~= variant then
      count(segment, variant, 'members', 1)
      if redis.call('HSETNX', key, 'r:' .. segment .. ':' .. variant, now) == 1 then
        count(segment, variant, 'reached', 1)
      end
    end
    if was == nil then
      redis.call('SADD', KEYS[member_sets[segment]], customer.id)
      feed(segment, 'enter', variant)
    end
  end
  for segment, was in pairs(old) do
    local variant = new[segment]
    if variant ~= was then
      count(segment, was, 'members', -1)
    end
    if variant == nil then
      redis.call('SREM', KEYS[member_sets[segment]], customer.id)
      redis.call('HDEL', key, 'm:' .. segment)
      feed(segment, 'exit', was)
    end
  end

  if customer.erased then
    redis.call('DEL', key)  -- forgotten: its history goes too (the aggregate counters stay)
  end
  redis.call('HSET', key, unpack(fields))
  if customer.erased then
    redis.call('EXPIRE', key, tombstone_ttl)
  elseif customer.anonymous then
    redis.call('EXPIRE', key, anonymous_ttl)
  else
    redis.call('PERSIST', key)
  end
end

local applied = 0
for i, customer in ipairs(batch.customers) do
  if version > ledgers[i].stored then
    apply(customer, KEYS[3 + i], ledgers[i])
    applied = applied + 1
  end
end
if next(batch.meta) ~= nil then
  local fields = {}
  for name, value in pairs(batch.meta) do
    table.insert(fields, name)
    table.insert(fields, value)
  end
  redis.call('HSET', meta, unpack(fields))
end
return {applied}
