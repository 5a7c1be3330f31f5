package stream

import "github.com/tetherim/tether/shared/job"

// AppendLua is the streams' part of scripts that pick the nodes of a job
// inside Redis, in the same round trip (the push API's send script,
// api/pushapi/send_script.go). It defines
//
//	stream_append(stream_prefix, maxlen, node id, entry)
//
// which appends entry (EncodeEntry's bytes) to the node's stream, as
// Publish does: the stream is stream_prefix .. node id (ScriptArgs), capped
// approximately at maxlen.
const AppendLua = `
local function stream_append(prefix, maxlen, node, entry)
  return redis.call('XADD', prefix .. node, 'MAXLEN', '~', maxlen, '*', '` + Field + `', entry)
end
`

// ScriptArgs are the stream_prefix and maxlen arguments of AppendLua's
// stream_append for node streams.
func (r *Redis) ScriptArgs() (prefix string, maxlen int64) {
	return r.keys.Node(""), r.caps.Node
}

// EncodeEntry is the entry AppendLua appends for j: its encoding, with
// EnqueuedMS set to now if it is zero (as Publish sets it).
func EncodeEntry(j job.Job) ([]byte, error) { return stamp(j) }
