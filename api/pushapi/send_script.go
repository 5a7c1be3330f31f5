package pushapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// The send script: a request's transient pushes in one round trip, which
// the coalescer (internal/coalesce) shares with concurrent requests. The
// route lookup decides which node streams the jobs go to, so lookup and
// publish cannot share a pipeline; inside Redis they can. The script is
// composed of the owners' parts, each defining functions with their own
// key and value formats: the rate limit (ratelimit.go), the idempotency
// records and statuses (shared/pushstatus), the live sessions
// (shared/route) and the stream appends (shared/stream). What is left here
// is the order of the steps:
//
//  1. spend the request's cost of the key's rate; over it, nothing else happens;
//  2. per push: claim its idempotency record (if any); a record another
//     push holds stops this push here;
//  3. find the live sessions of its users on the platforms it names;
//  4. write its status with that count, then append its job to the stream of
//     each node holding one of those sessions (status first: a node that
//     reads the job finds the status to count into).
//
// The script reads the stream and heartbeat keys of the nodes it finds in
// routes, which are not among its KEYS: it needs a Redis that holds every
// key (not Redis Cluster), as the rest of Tether does.
var sendScript = redis.NewScript("redis.replicate_commands()\n" + gcraLua + pushstatus.ScriptLua + route.LiveSessionsLua + stream.AppendLua + `
local nk, na = 0, 0
local function key() nk = nk + 1 return KEYS[nk] end
local function arg() na = na + 1 return ARGV[na] end

local node_prefix, stream_prefix, maxlen = arg(), arg(), arg()
local cost = tonumber(arg())
if cost > 0 then
  local rk = key()
  local retry = pushapi_gcra(rk, tonumber(arg()), tonumber(arg()), tonumber(arg()), cost)
  if retry >= 0 then return {0, tostring(retry)} end
end
local out = {1}
local alive = {}
for i = 1, tonumber(arg()) do
  local held = false
  if arg() == '1' then
    local ik, iv, ittl = key(), arg(), arg()
    local h = pushstatus_claim(ik, iv, ittl)
    if h ~= iv then held = h end
  end
  local entry = arg()
  local plats = false
  local np = tonumber(arg())
  if np > 0 then
    plats = {}
    for p = 1, np do plats[arg()] = true end
  end
  local sk = key()
  local st = pushstatus_read(arg)
  local nu = tonumber(arg())
  if held then
    for u = 1, nu do key() end
    out[#out + 1] = held
  else
    local nodes, order, targeted = {}, {}, 0
    for u = 1, nu do
      for _, s in ipairs(route_live(key(), node_prefix, alive)) do
        if not plats or plats[s[2]] then
          targeted = targeted + 1
          if not nodes[s[1]] then
            nodes[s[1]] = true
            order[#order + 1] = s[1]
          end
        end
      end
    end
    pushstatus_create(sk, st, targeted)
    for _, node in ipairs(order) do stream_append(stream_prefix, maxlen, node, entry) end
    out[#out + 1] = targeted
  end
end
return out
`)

// queueSend queues one run of the send script for spend and ps on pipe.
func (b *RedisBackend) queueSend(ctx context.Context, pipe redis.Pipeliner, spend Spend, ps []*TransientPush) (*redis.Cmd, error) {
	keys := make([]string, 0, 1+3*len(ps))
	streamPrefix, maxlen := b.streams.ScriptArgs()
	args := make([]any, 0, 8+16*len(ps))
	args = append(args, b.reg.Keys().NodePrefix(), streamPrefix, maxlen, spend.N)
	if spend.N > 0 {
		keys = append(keys, b.rateKey(spend.KeyID))
		args = rateArgs(args, spend.Limit)
	}
	args = append(args, len(ps))
	idemTTL := pushstatus.IdempotencyTTLArg(tether.PushIdempotencyWindow)
	for _, p := range ps {
		if p.Claim != nil {
			keys = append(keys, b.status.Keys().Idempotency(p.Claim.KeyID, p.Claim.Key))
			args = append(args, "1", p.Claim.Value, idemTTL)
		} else {
			args = append(args, "0")
		}
		entry, err := stream.EncodeEntry(p.Job)
		if err != nil {
			return nil, err
		}
		args = append(args, entry, len(p.Job.Platforms))
		for _, pl := range p.Job.Platforms {
			args = append(args, pl)
		}
		keys = append(keys, b.status.Keys().Status(p.Status.ID))
		args = pushstatus.AppendCreateArgs(args, p.Status.Status, p.Status.TTL)
		args = append(args, len(p.Job.Targets))
		for _, t := range p.Job.Targets {
			keys = append(keys, b.reg.Keys().Route(t.UserID))
		}
	}
	return sendScript.EvalSha(ctx, pipe, keys, args...), nil
}

// Transient implements Backend: one run of the send script, in a pipeline
// shared with concurrent requests.
func (b *RedisBackend) Transient(ctx context.Context, spend Spend, ps []*TransientPush) (bool, time.Duration, error) {
	for attempt := 0; ; attempt++ {
		var cmd *redis.Cmd
		var qerr error
		if err := b.pipes.Do(ctx, func(pipe redis.Pipeliner) { cmd, qerr = b.queueSend(ctx, pipe, spend, ps) }); err != nil {
			return false, 0, err
		}
		if qerr != nil {
			return false, 0, qerr
		}
		v, err := cmd.Result()
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis restarted or flushed its scripts; the script did not run.
			if err := sendScript.Load(ctx, b.rdb).Err(); err != nil {
				return false, 0, err
			}
			continue
		}
		if err != nil {
			return false, 0, err
		}
		return sendResult(v, ps)
	}
}

// sendResult reads the send script's answer into ps.
func sendResult(v any, ps []*TransientPush) (bool, time.Duration, error) {
	out, ok := v.([]any)
	if !ok || len(out) == 0 {
		return false, 0, fmt.Errorf("pushapi: send script answered %T", v)
	}
	if n, _ := out[0].(int64); n == 0 {
		if len(out) != 2 {
			return false, 0, errors.New("pushapi: send script: bad refusal")
		}
		_, retry, err := retryArg(out[1])
		return false, retry, err
	}
	if len(out) != 1+len(ps) {
		return false, 0, fmt.Errorf("pushapi: send script answered %d results for %d pushes", len(out)-1, len(ps))
	}
	for i, p := range ps {
		switch r := out[1+i].(type) {
		case int64:
			p.Targeted = int(r)
			if p.Claim != nil {
				p.Claim.Holder = p.Claim.Value
			}
		case string:
			if p.Claim == nil || strings.TrimSpace(r) == "" {
				return false, 0, errors.New("pushapi: send script: a holder for a push without an idempotency key")
			}
			p.Claim.Holder = r
		default:
			return false, 0, fmt.Errorf("pushapi: send script: result %T", r)
		}
	}
	return true, 0, nil
}
