// Package route is the routing registry shared by push nodes and the API's
// outbox relay. It lives in Redis:
//
//	{p}node:{id}         string  the node's Info as JSON, with a heartbeat TTL
//	{p}stream:{id}       stream  push jobs for node id, read by consumer group "push"
//	{p}broadcast         stream  broadcast jobs, read by every node with a consumer group named after the node
//	{p}route:{uid}       hash    device id -> "node|platform|conn" for each live session
//	{p}ver:{uid}         string  the user's newest timeline version known to Redis
//	{p}ack:{uid}         hash    device id -> highest version the device acked
//
// A route is trusted only while its node's key is alive, so a node that dies
// without cleaning up stops receiving jobs once its heartbeat key expires.
package route

import "strconv"

// Group is the consumer group every node uses on its own stream.
const Group = "push"

// Keys builds key names under a prefix (e.g. "tether:").
type Keys struct{ Prefix string }

// Node is the heartbeat key of a node.
func (k Keys) Node(id string) string { return k.Prefix + "node:" + id }

// Stream is the job stream of a node.
func (k Keys) Stream(id string) string { return k.Prefix + "stream:" + id }

// Broadcast is the stream every node reads, each with its own consumer group.
func (k Keys) Broadcast() string { return k.Prefix + "broadcast" }

// Route is the session hash of a user.
func (k Keys) Route(uid int64) string { return k.Prefix + "route:" + strconv.FormatInt(uid, 10) }

// Version is the newest-version key of a user.
func (k Keys) Version(uid int64) string { return k.Prefix + "ver:" + strconv.FormatInt(uid, 10) }

// Acks is the per-device ack hash of a user.
func (k Keys) Acks(uid int64) string { return k.Prefix + "ack:" + strconv.FormatInt(uid, 10) }
