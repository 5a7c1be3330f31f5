package pushstatus

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ScriptLua is this package's part of scripts that send a push in one
// round trip (the push API's send script, api/pushapi/send_script.go). It
// defines
//
//	pushstatus_claim(key, value, ttl_ms) -> holder
//	pushstatus_read(arg) -> status       (reads what AppendCreateArgs appended)
//	pushstatus_create(key, status, targeted)
//
// pushstatus_claim takes an idempotency record unless it is taken and
// returns what it holds (value if it was free); pushstatus_create writes a
// new push's status as QueueCreate does, with the targeted count the
// script found. arg is the caller's reader of the next ARGV.
const ScriptLua = `
local function pushstatus_claim(key, value, ttl)
  if redis.call('SET', key, value, 'NX', 'PX', ttl) then return value end
  return redis.call('GET', key)
end
local function pushstatus_read(arg)
  local ttl = arg()
  local n = tonumber(arg())
  local f = {}
  for i = 1, n do f[i] = arg() end
  return {ttl, f}
end
local function pushstatus_create(key, st, targeted)
  redis.call('HSET', key, '` + fieldTargeted + `', targeted, unpack(st[2]))
  redis.call('PEXPIRE', key, st[1])
end
`

// AppendCreateArgs appends the arguments pushstatus_read reads: the status
// s without its targeted count (the script finds it), living for ttl.
func AppendCreateArgs(args []any, s Status, ttl time.Duration) []any {
	return append(args, ttl.Milliseconds(), 10,
		fieldKey, s.KeyID, fieldMode, s.Mode, fieldCreated, s.CreatedAt.UnixMilli(),
		fieldExpires, s.ExpiresAt.UnixMilli(), fieldCollapseKey, s.CollapseKey)
}

// IdempotencyTTLArg is ttl as pushstatus_claim's ttl_ms argument.
func IdempotencyTTLArg(ttl time.Duration) string { return strconv.FormatInt(ttl.Milliseconds(), 10) }

// releaseIfHeld deletes each KEYS[i] that still holds ARGV[i].
var releaseIfHeld = redis.NewScript(`
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[i] then redis.call('DEL', k) end
end
return 0`)

// Release gives up idempotency records (keys) that still hold what the
// caller claimed them with (values), so a retry of pushes that could not be
// sent sends them; records another push took are left alone. Best effort.
func (r *Redis) Release(ctx context.Context, keys []string, values []string) error {
	if len(keys) == 0 {
		return nil
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return releaseIfHeld.Run(ctx, r.rdb, keys, args...).Err()
}
