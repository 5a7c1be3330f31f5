package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
)

// The transaction of a batch of sends (groupcommit.go). Every step is one
// statement for the whole batch, in the order a single send took them:
// idempotency, groups (locked first, as membership changes lock them),
// blocks, timeline heads (locked in user id order, before the messages are
// inserted, so message ids follow versions), messages, versions, timeline
// entries, conversation lists and outbox rows.

// plannedSend is one send of a batch on its way through the transaction.
type plannedSend struct {
	p     *pendingSend
	row   messageRow
	users []int64 // whose timelines get it, ascending: sender and recipient, or the group's members
	out   sendOutcome
	done  bool // answered (refused or found) before being written
}

func (ps *plannedSend) refuse(err error) { ps.out, ps.done = sendOutcome{err: err}, true }

// commitBatch runs batch in one transaction and answers every send in it.
// If the transaction fails as a whole, each send runs again alone, in
// order, so a failure only one send causes (a duplicate insert racing
// another batch, say) fails no other.
func (s *MessageService) commitBatch(batch []*pendingSend) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	var plans []*plannedSend
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var err error
		plans, err = s.sendBatch(tx, batch)
		if err == nil && s.beforeCommit != nil {
			err = s.beforeCommit(len(batch))
		}
		return err
	})
	if err != nil && len(batch) > 1 {
		for _, p := range batch {
			s.commitBatch([]*pendingSend{p})
		}
		return
	}
	if err != nil {
		batch[0].done <- s.failedSend(ctx, batch[0], err)
		return
	}
	created := false
	for _, ps := range plans {
		created = created || ps.out.created
	}
	if created && s.onCommit != nil {
		s.onCommit()
	}
	for _, ps := range plans {
		ps.p.done <- ps.out
	}
}

// failedSend is the outcome of a send whose own transaction failed. A
// duplicate means a retry of it committed in another batch meanwhile: the
// stored message is the answer.
func (s *MessageService) failedSend(ctx context.Context, p *pendingSend, err error) sendOutcome {
	if errors.Is(err, errDuplicateMsg) || isDuplicate(err) {
		m, err := s.existing(ctx, p.from, p.nm.ClientMsgID)
		if err == nil && m == nil {
			err = errors.New("store: send: duplicate message vanished")
		}
		return sendOutcome{msg: m, err: err}
	}
	if tether.ErrorCode(err) != tether.EINTERNAL {
		return sendOutcome{err: err}
	}
	return sendOutcome{err: fmt.Errorf("store: send: %w", err)}
}

// sendBatch is the body of a batch's transaction. A send refused on its
// own is answered in its plan; an error fails the whole transaction.
func (s *MessageService) sendBatch(tx *gorm.DB, batch []*pendingSend) ([]*plannedSend, error) {
	plans := make([]*plannedSend, len(batch))
	for i, p := range batch {
		plans[i] = &plannedSend{p: p, row: messageRow{SenderID: p.from, ClientMsgID: p.nm.ClientMsgID, Type: p.nm.Type, Content: p.content}}
		if p.nm.GroupID > 0 {
			gid := p.nm.GroupID
			plans[i].row.ConversationID, plans[i].row.GroupID = tether.GroupConversationID(gid), &gid
		} else {
			rid := p.nm.RecipientID
			plans[i].row.ConversationID, plans[i].row.RecipientID = tether.DirectConversationID(p.from, rid), &rid
			plans[i].users = []int64{min(p.from, rid), max(p.from, rid)}
		}
	}
	steps := []func(*gorm.DB, []*plannedSend) error{findSent, checkGroups, checkBlocks}
	for _, step := range steps {
		if err := step(tx, open(plans)); err != nil {
			return nil, err
		}
	}
	heads, err := lockSendHeads(tx, open(plans))
	if err != nil {
		return nil, err
	}
	if err := writeSends(s.db, tx, open(plans), heads); err != nil {
		return nil, err
	}
	return plans, nil
}

// open are the plans not answered yet.
func open(plans []*plannedSend) []*plannedSend {
	out := make([]*plannedSend, 0, len(plans))
	for _, ps := range plans {
		if !ps.done {
			out = append(out, ps)
		}
	}
	return out
}

// findSent answers the sends a message already exists for (a retry): the
// stored message, created=false, contents not compared.
func findSent(tx *gorm.DB, plans []*plannedSend) error {
	if len(plans) == 0 {
		return nil
	}
	keys := make([][]any, len(plans))
	for i, ps := range plans {
		keys[i] = []any{ps.row.SenderID, ps.row.ClientMsgID}
	}
	var rows []messageRow
	if err := tx.Where("(sender_id, client_msg_id) IN ?", keys).Find(&rows).Error; err != nil {
		return err
	}
	found := make(map[sendKey]messageRow, len(rows))
	for _, r := range rows {
		found[sendKey{r.SenderID, r.ClientMsgID}] = r
	}
	for _, ps := range plans {
		if r, ok := found[sendKey{ps.row.SenderID, ps.row.ClientMsgID}]; ok {
			m := r.message()
			ps.out, ps.done = sendOutcome{msg: &m}, true
		}
	}
	return nil
}

// checkGroups locks the groups of the batch's group sends, in ascending
// id order and by key (see lockHeads), and refuses the sends of
// non-members, muted members and to groups that are gone; the others get
// the group's members as their users.
func checkGroups(tx *gorm.DB, plans []*plannedSend) error {
	var gids []int64
	for _, ps := range plans {
		if ps.row.GroupID != nil {
			gids = append(gids, *ps.row.GroupID)
		}
	}
	if len(gids) == 0 {
		return nil
	}
	slices.Sort(gids)
	gids = slices.Compact(gids)
	groups := make(map[int64]groupRow, len(gids))
	lock := clause.Locking{Strength: clause.LockingStrengthUpdate}
	for _, gid := range gids {
		var g []groupRow
		if err := tx.Clauses(lock).Where("id = ?", gid).Limit(1).Find(&g).Error; err != nil {
			return err
		}
		if len(g) == 1 && g[0].DissolvedAt == nil {
			groups[gid] = g[0]
		}
	}
	var members []groupMemberRow
	if len(groups) > 0 {
		live := make([]int64, 0, len(groups))
		for gid := range groups {
			live = append(live, gid)
		}
		if err := tx.Where("group_id IN ?", live).Order("group_id, user_id").Find(&members).Error; err != nil {
			return err
		}
	}
	byGroup := make(map[int64][]groupMemberRow, len(groups))
	for _, m := range members {
		byGroup[m.GroupID] = append(byGroup[m.GroupID], m)
	}
	at := now()
	for _, ps := range plans {
		if ps.row.GroupID == nil {
			continue
		}
		gid := *ps.row.GroupID
		g, ok := groups[gid]
		ms := byGroup[gid]
		i, member := slices.BinarySearchFunc(ms, ps.row.SenderID, func(m groupMemberRow, uid int64) int { return cmp.Compare(m.UserID, uid) })
		switch {
		case !ok || !member:
			// Non-members learn nothing about the group.
			ps.refuse(tether.Errorf(tether.ENOTFOUND, "group not found"))
		default:
			if err := canSpeak(g, ms[i], at); err != nil {
				ps.refuse(err)
				continue
			}
			ps.users = make([]int64, len(ms))
			for j, m := range ms {
				ps.users[j] = m.UserID
			}
		}
	}
	return nil
}

// checkBlocks refuses the 1:1 sends whose recipient blocked the sender; the
// sender learns no more than that it is refused.
func checkBlocks(tx *gorm.DB, plans []*plannedSend) error {
	var pairs [][]any
	for _, ps := range plans {
		if ps.row.RecipientID != nil {
			pairs = append(pairs, []any{*ps.row.RecipientID, ps.row.SenderID})
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	var rows []blockRow
	if err := tx.Select("user_id", "blocked_id").Where("(user_id, blocked_id) IN ?", pairs).Find(&rows).Error; err != nil {
		return err
	}
	blocked := make(map[[2]int64]bool, len(rows))
	for _, r := range rows {
		blocked[[2]int64{r.UserID, r.BlockedID}] = true
	}
	for _, ps := range plans {
		if ps.row.RecipientID != nil && blocked[[2]int64{*ps.row.RecipientID, ps.row.SenderID}] {
			ps.refuse(tether.Errorf(tether.EFORBIDDEN, "you cannot message this user"))
		}
	}
	return nil
}

// lockSendHeads locks the timeline heads of every user of plans and returns
// their versions. A user without a head who has an account gets one (an
// account made outside Register); a send to a user without an account is
// refused as not found, and one from a sender without an account with
// errNoAccount.
func lockSendHeads(tx *gorm.DB, plans []*plannedSend) (map[int64]uint64, error) {
	var uids []int64
	for _, ps := range plans {
		uids = append(uids, ps.users...)
	}
	if len(uids) == 0 {
		return nil, nil
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	hs, err := lockHeads(tx, uids)
	if err != nil {
		return nil, err
	}
	heads := make(map[int64]uint64, len(hs))
	for _, h := range hs {
		heads[h.UserID] = h.Version
	}
	if len(hs) == len(uids) {
		return heads, nil
	}
	var missing []int64
	for _, uid := range uids {
		if _, ok := heads[uid]; !ok {
			missing = append(missing, uid)
		}
	}
	var accounts []int64
	if err := tx.Model(&userRow{}).Where("id IN ?", missing).Order("id").Pluck("id", &accounts).Error; err != nil {
		return nil, err
	}
	if len(accounts) > 0 {
		if err := createHeads(tx, accounts, nil); err != nil {
			return nil, err
		}
		created, err := lockHeads(tx, accounts)
		if err != nil {
			return nil, err
		}
		for _, h := range created {
			heads[h.UserID] = h.Version
		}
	}
	for _, ps := range plans {
		for _, uid := range ps.users {
			if _, ok := heads[uid]; ok {
				continue
			}
			if uid == ps.row.SenderID {
				ps.refuse(errNoAccount)
			} else {
				ps.refuse(tether.Errorf(tether.ENOTFOUND, "recipient not found"))
			}
			break
		}
	}
	return heads, nil
}

// writeSends inserts the messages of plans (in batch order, so their ids
// ascend in it), gives each its next version in every user's timeline, and
// writes the timeline entries, the new heads, the conversation lists and
// one outbox row per message, each in one statement per fanoutChunk rows.
func writeSends(db *DB, tx *gorm.DB, plans []*plannedSend, heads map[int64]uint64) error {
	plans = open(plans)
	if len(plans) == 0 {
		return nil
	}
	at := now()
	rows := make([]messageRow, len(plans))
	for i, ps := range plans {
		ps.row.ID, ps.row.CreatedAt = 0, at
		rows[i] = ps.row
	}
	if err := tx.Create(&rows).Error; err != nil {
		if isDuplicate(err) {
			return errDuplicateMsg
		}
		return err
	}
	changed := make(map[int64]bool)
	var entries []timelineRow
	var convs []conversationRow
	outbox := make([]outboxRow, 0, len(plans))
	for i, ps := range plans {
		ps.row.ID = rows[i].ID
		m := ps.row.message()
		versions := make(map[int64]uint64, len(ps.users))
		for _, uid := range ps.users {
			changed[uid] = true
		}
		targets := make([]OutboxTarget, 0, len(ps.users))
		convID := m.ConversationID
		for _, uid := range ps.users {
			heads[uid]++
			v := heads[uid]
			versions[uid] = v
			entries = append(entries, timelineRow{UserID: uid, Version: v, Kind: tether.EntryMessage, MessageID: &ps.row.ID, ConversationID: &convID})
			targets = append(targets, OutboxTarget{UserID: uid, Version: v})
		}
		convs = append(convs, conversationRows(&m, versions)...)
		ob, err := outboxFor(newEntry{Kind: tether.EntryMessage, ConversationID: convID, MessageID: &ps.row.ID, Message: &m}, targets)
		if err != nil {
			return err
		}
		outbox = append(outbox, ob)
		ps.out = sendOutcome{msg: &m, created: true}
	}
	if err := setHeads(tx, heads, changed); err != nil {
		return err
	}
	if err := tx.CreateInBatches(entries, fanoutChunk).Error; err != nil {
		return err
	}
	if err := db.upsertConversations(tx, convs); err != nil {
		return err
	}
	return tx.CreateInBatches(outbox, fanoutChunk).Error
}

// setHeads writes the changed heads' new versions (their rows are locked) in one
// statement per fanoutChunk heads: an upsert names each row by its key, so
// it never scans a small table and waits on heads other transactions hold.
func setHeads(tx *gorm.DB, heads map[int64]uint64, changed map[int64]bool) error {
	rows := make([]headRow, 0, len(changed))
	for uid := range changed {
		rows = append(rows, headRow{UserID: uid, Version: heads[uid]})
	}
	slices.SortFunc(rows, func(a, b headRow) int { return cmp.Compare(a.UserID, b.UserID) })
	upsert := clause.OnConflict{Columns: []clause.Column{{Name: "user_id"}}, DoUpdates: clause.AssignmentColumns([]string{"version"})}
	return tx.Clauses(upsert).CreateInBatches(rows, fanoutChunk).Error
}
