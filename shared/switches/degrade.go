package switches

// Degradations are the switches that turn a non-core business down or off
// (issue 11 part 4), each an on/off switch that is on by default: what the
// ops page offers under "degrade a business". Chat send, sync and push
// delivery are never among them.
var Degradations = []string{Presence, Signals, ReadReceipts, Broadcast, Webhook, PushAPI}
