-- segstream key layout v1: a customer's segments in one round trip, following identity aliases.
-- EVAL <this script> 0 <prefix> <customer id>
-- Returns {resolved customer id, {field, value, field, value, ...}} (the HGETALL of its hash).
local prefix, id = ARGV[1], ARGV[2]
for _ = 1, 4 do
  local fields = redis.call('HGETALL', prefix .. ':customer:' .. id)
  local alias = nil
  for i = 1, #fields, 2 do
    if fields[i] == '_alias_of' then alias = fields[i + 1] end
  end
  if alias == nil then return {id, fields} end
  id = alias
end
return {id, {}}
