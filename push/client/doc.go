// Package client is Tether's Go client library: a small REST client (API)
// and a connection manager (Client) that keeps one push connection to a push
// node alive and hands the application every entry of the user's timeline
// exactly once, in version order, across disconnects, gaps and reconnects.
//
// Entries reach the client two ways: pushed over the wire protocol of
// push/wire, and pulled over REST (GET /v1/sync) after reconnects and when
// the push stream has a gap. Both feed one sequencer, which is the only
// place that decides what the application sees and in which order.
//
// Run reconnects by itself after every disconnect except a kick: when the
// server ends the session on purpose with a Kick frame (a newer session of
// the user on the same platform took over under the server's multi-device
// policy, or the login was revoked), Run returns a *KickedError and stays
// disconnected, so two devices of one user never take turns replacing each
// other. Set Config.Platform and Config.DeviceID to the values the access
// token was issued for: the server uses the token's.
//
// Give the client every push node's address (Config.PushAddrs): it starts at
// a random one and moves to the next whenever a connection ends. A node that
// drains sends a Reconnect frame; the client then acks, closes, waits a
// random moment within the frame's window and connects to the next node. A
// node whose Redis route was written late sends a Sync frame; the client
// syncs if it is behind. Either way it syncs as after any reconnect, so
// nothing is lost when a node drains, dies or loses Redis.
//
// Client.Send rides out outages: a send that fails with 503 (the API's
// database or Redis is down), 502 or 504 (a proxy in front), 429 (a rate
// limit) or a network error is retried, always with the same client
// message id, so the server stores the message once however many attempts
// reach it. It waits a jittered exponential backoff from Config.MinBackoff,
// and never less than the answer's Retry-After, and starts no attempt after
// Config.SendRetryBudget (30 s by default, enough for a database restart
// or failover; the context given to Send bounds it too). Other failures
// (400, 403, 404, a 500) return at once; the error is a *ProblemError.
package client
