package store

import "github.com/tetherim/tether"

// QueuedSendsForTest is how many sends of ms wait for a batch.
func QueuedSendsForTest(ms tether.MessageService) int { return ms.(*MessageService).commits.queued() }

// BeforeCommitForTest makes fn run at the end of every batch transaction
// of ms, with the batch's size; an error rolls the transaction back. Set
// it before the first send.
func BeforeCommitForTest(ms tether.MessageService, fn func(n int) error) {
	ms.(*MessageService).beforeCommit = fn
}
