package route

// LiveSessionsLua is the registry's part of scripts that route inside
// Redis, in one round trip with what they route (the push API's send
// script, api/pushapi/send_script.go). It defines
//
//	route_live(route_key, node_prefix, alive) -> { {node id, platform}, ... }
//
// the live sessions of one user's route hash, as Lookup finds them: a
// session counts while its node's heartbeat key (node_prefix .. node id,
// see NodePrefix) exists, which alive (a table the caller keeps for the
// whole run) remembers per node; the routes of dead nodes are deleted, as
// Lookup deletes them. The values are parsed as parseSession parses them.
const LiveSessionsLua = `
local function route_live(key, node_prefix, alive)
  local out = {}
  local h = redis.call('HGETALL', key)
  for i = 1, #h, 2 do
    local v = h[i + 1]
    local a = string.find(v, '|', 1, true)
    local b = a and string.find(v, '|', a + 1, true)
    if b then
      local node = string.sub(v, 1, a - 1)
      local ok = alive[node]
      if ok == nil then
        ok = redis.call('EXISTS', node_prefix .. node) == 1
        alive[node] = ok
      end
      if ok then
        out[#out + 1] = {node, string.sub(v, a + 1, b - 1)}
      else
        redis.call('HDEL', key, h[i])
      end
    end
  end
  return out
end
`

// NodePrefix is what Node puts before a node id, for scripts that build
// heartbeat keys from the node ids they find in routes (LiveSessionsLua).
func (k Keys) NodePrefix() string { return k.Node("") }
