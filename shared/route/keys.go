// Package route is the routing registry shared by push nodes and the API's
// outbox relay. It lives in Redis:
//
//	{p}node:{id}         string  the node's Info as JSON, with a heartbeat TTL
//	{p}route:{uid}       hash    device id -> "node|platform|conn" for each live session
//	{p}ver:{uid}         string  the user's newest timeline version known to Redis
//	{p}ack:{uid}         hash    device id -> highest version the device acked
//
// Jobs reach a node through its stream, owned by shared/stream.
//
// A route is trusted only while its node's key is alive, so a node that dies
// without cleaning up stops receiving jobs once its heartbeat key expires.
package route

import "strconv"

// Keys builds key names under a prefix (e.g. "tether:").
type Keys struct{ Prefix string }

// Node is the heartbeat key of a node.
func (k Keys) Node(id string) string { return k.Prefix + "node:" + id }

// Route is the session hash of a user.
func (k Keys) Route(uid int64) string { return k.Prefix + "route:" + strconv.FormatInt(uid, 10) }

// Version is the newest-version key of a user.
func (k Keys) Version(uid int64) string { return k.Prefix + "ver:" + strconv.FormatInt(uid, 10) }

// Acks is the per-device ack hash of a user.
func (k Keys) Acks(uid int64) string { return k.Prefix + "ack:" + strconv.FormatInt(uid, 10) }
