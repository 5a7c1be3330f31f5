package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherim/tether"
)

// MessageService implements tether.MessageService.
type MessageService struct {
	db           *DB
	onCommit     func()
	recallWindow time.Duration // how long after sending a message its sender may recall it
	commits      *committer    // group commit of sends (groupcommit.go)

	commitWindow  time.Duration
	commitMax     int
	commitLeaders int
	// beforeCommit (tests only) runs at the end of a batch's transaction
	// with the batch's size; an error rolls the transaction back.
	beforeCommit func(n int) error
}

var _ tether.MessageService = (*MessageService)(nil)

// DefaultRecallWindow is the recall window without WithRecallWindow.
const DefaultRecallWindow = 2 * time.Minute

// MessageOption configures a MessageService.
type MessageOption func(*MessageService)

// WithRecallWindow sets how long after sending a message its sender may
// recall it (d > 0; otherwise the default stays).
func WithRecallWindow(d time.Duration) MessageOption {
	return func(s *MessageService) {
		if d > 0 {
			s.recallWindow = d
		}
	}
}

// WithGroupCommit tunes the group commit of sends: how long a batch
// collects sends before its transaction starts (window >= 0), at most how
// many sends it holds, and how many batches run at once. Values out of
// range keep the defaults (DefaultCommitWindow, DefaultCommitBatch,
// DefaultCommitLeaders).
func WithGroupCommit(window time.Duration, maxBatch, leaders int) MessageOption {
	return func(s *MessageService) {
		if window >= 0 {
			s.commitWindow = window
		}
		if maxBatch > 0 {
			s.commitMax = maxBatch
		}
		if leaders > 0 {
			s.commitLeaders = leaders
		}
	}
}

// NewMessageService returns the message service. onCommit (may be nil) is
// called after every commit that wrote outbox rows, to wake the relay.
func NewMessageService(db *DB, onCommit func(), opts ...MessageOption) tether.MessageService {
	return newMessageService(db, onCommit, opts...)
}

func newMessageService(db *DB, onCommit func(), opts ...MessageOption) *MessageService {
	s := &MessageService{
		db: db, onCommit: onCommit, recallWindow: DefaultRecallWindow,
		commitWindow: DefaultCommitWindow, commitMax: DefaultCommitBatch, commitLeaders: DefaultCommitLeaders,
	}
	for _, o := range opts {
		o(s)
	}
	s.commits = newCommitter(s.commitBatch, s.commitWindow, s.commitMax, s.commitLeaders)
	return s
}

var errDuplicateMsg = errors.New("store: duplicate client message id")

// Send stores a 1:1 or group message, appends it to the timelines of its
// participants and queues its push, in one transaction it shares with the
// sends that arrived at the same time (groupcommit.go). A message is
// identified by (sender, ClientMsgID): a retry, even one racing the
// original, returns the stored message with created=false and does not
// compare contents. It returns only after the transaction committed.
func (s *MessageService) Send(ctx context.Context, from tether.Caller, nm tether.NewMessage) (*tether.Message, bool, error) {
	content, err := nm.Validate(from)
	if err != nil {
		return nil, false, err
	}
	o := s.commits.submit(ctx, &pendingSend{ctx: ctx, from: from.UserID, nm: nm, content: string(content), done: make(chan sendOutcome, 1)})
	return o.msg, o.created, o.err
}

// canSpeak refuses a message from a muted member, or from a plain member
// while the whole group is muted (owner and admins may still speak).
func canSpeak(g groupRow, m groupMemberRow, at time.Time) error {
	if m.MutedUntil != nil && m.MutedUntil.After(at) {
		return tether.Errorf(tether.EFORBIDDEN, "you are muted in this group until %s", m.MutedUntil.UTC().Format(time.RFC3339))
	}
	if g.MutedAll && !tether.CanManageGroup(m.Role) {
		return tether.Errorf(tether.EFORBIDDEN, "the group is muted: only the owner and admins may speak")
	}
	return nil
}

// existing returns the message a sender already sent with clientMsgID, or nil.
func (s *MessageService) existing(ctx context.Context, sender int64, clientMsgID string) (*tether.Message, error) {
	var rows []messageRow
	err := s.db.g.WithContext(ctx).Where("sender_id = ? AND client_msg_id = ?", sender, clientMsgID).Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: send: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	m := rows[0].message()
	return &m, nil
}
