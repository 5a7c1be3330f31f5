package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
)

// GroupService implements tether.GroupService.
//
// Every change of a group's members or settings runs in one transaction
// that first locks the group's chat_groups row FOR UPDATE. Send locks the
// same row (insertGroup), so a message reaches exactly the members of the
// moment it is accepted: never a member removed before it, always one added
// before it. The group row is always locked before timeline heads, in the
// same order as Send, so the two never deadlock.
type GroupService struct {
	db       *DB
	onCommit func()
}

var _ tether.GroupService = (*GroupService)(nil)

// NewGroupService returns the group service. onCommit (may be nil) is
// called after every commit that queued outbox rows, to wake the relay.
func NewGroupService(db *DB, onCommit func()) tether.GroupService {
	return &GroupService{db: db, onCommit: onCommit}
}

var errGroupNotFound = tether.Errorf(tether.ENOTFOUND, "group not found")

// write runs fn in a transaction and wakes the relay after it committed:
// every successful write of this service appends timeline entries.
func (s *GroupService) write(ctx context.Context, op string, fn func(tx *gorm.DB) error) error {
	err := orNoAccount(s.db.tx(ctx, fn))
	if err != nil {
		if tether.ErrorCode(err) != tether.EINTERNAL {
			return err
		}
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if s.onCommit != nil {
		s.onCommit()
	}
	return nil
}

func (g groupRow) group(myRole string) *tether.Group {
	return &tether.Group{
		ID: g.ID, Name: g.Name, AvatarURL: g.AvatarURL, Announcement: g.Announcement,
		OwnerID: g.OwnerID, MutedAll: g.MutedAll, MemberCount: g.MemberCount, MyRole: myRole,
		CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(),
	}
}

// lockGroup locks a live group's row; a missing or dissolved group is ENOTFOUND.
func lockGroup(tx *gorm.DB, gid int64) (groupRow, error) {
	var rows []groupRow
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id = ?", gid).Limit(1).Find(&rows).Error
	if err != nil {
		return groupRow{}, err
	}
	if len(rows) == 0 || rows[0].DissolvedAt != nil {
		return groupRow{}, errGroupNotFound
	}
	return rows[0], nil
}

// member returns a member's row, or nil.
func member(tx *gorm.DB, gid, uid int64) (*groupMemberRow, error) {
	var rows []groupMemberRow
	if err := tx.Where("group_id = ? AND user_id = ?", gid, uid).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// lockAsMember locks the group and returns the actor's membership; to a
// non-member the group does not exist.
func lockAsMember(tx *gorm.DB, gid, actor int64) (groupRow, groupMemberRow, error) {
	g, err := lockGroup(tx, gid)
	if err != nil {
		return g, groupMemberRow{}, err
	}
	m, err := member(tx, gid, actor)
	if err != nil {
		return g, groupMemberRow{}, err
	}
	if m == nil {
		return g, groupMemberRow{}, errGroupNotFound
	}
	return g, *m, nil
}

// targetMember returns the member a request names; ENOTFOUND if not a member.
func targetMember(tx *gorm.DB, gid, uid int64) (groupMemberRow, error) {
	m, err := member(tx, gid, uid)
	if err != nil {
		return groupMemberRow{}, err
	}
	if m == nil {
		return groupMemberRow{}, tether.Errorf(tether.ENOTFOUND, "user %d is not a member of this group", uid)
	}
	return *m, nil
}

func memberIDs(tx *gorm.DB, gid int64) ([]int64, error) {
	var ids []int64
	err := tx.Model(&groupMemberRow{}).Where("group_id = ?", gid).Order("user_id").Pluck("user_id", &ids).Error
	return ids, err
}

// emit appends ev to the timelines of users in one step (one lock of their
// heads, one outbox row).
func emit(tx *gorm.DB, users []int64, ev tether.GroupEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	conv := tether.GroupConversationID(ev.GroupID)
	if ev.Type == tether.GroupInvited {
		conv = "" // the invitee is not part of the conversation yet
	}
	_, err = appendToTimelines(tx, users, newEntry{Kind: tether.EntryGroup, ConversationID: conv, Event: body})
	return err
}

// uniqueIDs sorts ids, drops duplicates and skip, and refuses non-positive ids.
func uniqueIDs(ids []int64, skip int64) ([]int64, error) {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if id <= 0 {
			return nil, tether.Errorf(tether.EINVALID, "user ids must be positive")
		}
		if id != skip {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// checkJoinable refuses unknown users (ENOTFOUND) and users who blocked the
// actor (EFORBIDDEN, naming none: who blocked whom stays private).
func checkJoinable(tx *gorm.DB, actor int64, ids []int64) error {
	for chunk := range slices.Chunk(ids, fanoutChunk) {
		var n int64
		if err := tx.Model(&userRow{}).Where("id IN ?", chunk).Count(&n).Error; err != nil {
			return err
		}
		if int(n) != len(chunk) {
			return tether.Errorf(tether.ENOTFOUND, "some of the users do not exist")
		}
		var blockers int64
		if err := tx.Model(&blockRow{}).Where("blocked_id = ? AND user_id IN ?", actor, chunk).Count(&blockers).Error; err != nil {
			return err
		}
		if blockers > 0 {
			return tether.Errorf(tether.EFORBIDDEN, "some users cannot be added")
		}
	}
	return nil
}

func (s *GroupService) CreateGroup(ctx context.Context, userID int64, ng tether.NewGroup) (*tether.Group, error) {
	if userID <= 0 {
		return nil, tether.Errorf(tether.EUNAUTHORIZED, "no authenticated user")
	}
	if err := ng.Validate(); err != nil {
		return nil, err
	}
	members, err := uniqueIDs(ng.MemberIDs, userID)
	if err != nil {
		return nil, err
	}
	if len(members)+1 > tether.MaxGroupMembers {
		return nil, tether.Errorf(tether.EINVALID, "a group has at most %d members: member_ids may name at most %d others", tether.MaxGroupMembers, tether.MaxGroupMembers-1)
	}
	var g groupRow
	err = s.write(ctx, "create group", func(tx *gorm.DB) error {
		if err := checkJoinable(tx, userID, members); err != nil {
			return err
		}
		at := now()
		g = groupRow{Name: ng.Name, AvatarURL: ng.AvatarURL, Announcement: ng.Announcement, OwnerID: userID,
			MemberCount: 1 + len(members), CreatedAt: at, UpdatedAt: at}
		if err := tx.Create(&g).Error; err != nil {
			return err
		}
		rows := make([]groupMemberRow, 0, 1+len(members))
		rows = append(rows, groupMemberRow{GroupID: g.ID, UserID: userID, Role: tether.RoleOwner, JoinedAt: at})
		for _, m := range members {
			rows = append(rows, groupMemberRow{GroupID: g.ID, UserID: m, Role: tether.RoleMember, JoinedAt: at})
		}
		if err := tx.CreateInBatches(rows, fanoutChunk).Error; err != nil {
			return err
		}
		// No user ids in the event: up to 2,000 of them in 2,000 timelines
		// would be megabytes; members page GET .../members instead.
		return emit(tx, append(members, userID), tether.GroupEvent{GroupID: g.ID, Type: tether.GroupCreated, ActorID: userID})
	})
	if err != nil {
		return nil, err
	}
	return g.group(tether.RoleOwner), nil
}

// parseIDCursor parses a cursor that is the last id of the previous page.
func parseIDCursor(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || v < 1 {
		return 0, tether.Errorf(tether.EINVALID, "cursor is not one this API returned")
	}
	return v, nil
}

func checkLimit(limit int) error {
	if limit <= 0 || limit > tether.MaxPageSize {
		return tether.Errorf(tether.EINVALID, "limit must be 1 to %d", tether.MaxPageSize)
	}
	return nil
}

func (s *GroupService) Groups(ctx context.Context, userID int64, cursor string, limit int) (*tether.GroupPage, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	after, err := parseIDCursor(cursor)
	if err != nil {
		return nil, err
	}
	// Two key lookups: the caller's memberships (ix_group_members_user),
	// then their groups by primary key.
	g := s.db.g.WithContext(ctx)
	var mine []groupMemberRow
	err = g.Where("user_id = ? AND group_id > ?", userID, after).Order("group_id").Limit(limit + 1).Find(&mine).Error
	if err != nil {
		return nil, fmt.Errorf("store: list groups: %w", err)
	}
	page := &tether.GroupPage{Groups: make([]tether.Group, 0, min(len(mine), limit))}
	if len(mine) > limit {
		mine = mine[:limit]
		page.NextCursor = strconv.FormatInt(mine[limit-1].GroupID, 10)
	}
	if len(mine) == 0 {
		return page, nil
	}
	ids := make([]int64, len(mine))
	for i, m := range mine {
		ids[i] = m.GroupID
	}
	var rows []groupRow
	if err := g.Where("id IN ?", ids).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list groups: %w", err)
	}
	for i, r := range rows {
		page.Groups = append(page.Groups, *r.group(mine[i].Role))
	}
	return page, nil
}

// readAsMember reads a live group and the caller's membership without locks.
func (s *GroupService) readAsMember(ctx context.Context, userID, gid int64) (groupRow, groupMemberRow, error) {
	g := s.db.g.WithContext(ctx)
	var rows []groupRow
	if err := g.Where("id = ? AND dissolved_at IS NULL", gid).Limit(1).Find(&rows).Error; err != nil {
		return groupRow{}, groupMemberRow{}, fmt.Errorf("store: group: %w", err)
	}
	if len(rows) == 0 {
		return groupRow{}, groupMemberRow{}, errGroupNotFound
	}
	m, err := member(g, gid, userID)
	if err != nil {
		return groupRow{}, groupMemberRow{}, fmt.Errorf("store: group: %w", err)
	}
	if m == nil {
		return groupRow{}, groupMemberRow{}, errGroupNotFound
	}
	return rows[0], *m, nil
}

func (s *GroupService) Group(ctx context.Context, userID, groupID int64) (*tether.Group, error) {
	g, me, err := s.readAsMember(ctx, userID, groupID)
	if err != nil {
		return nil, err
	}
	return g.group(me.Role), nil
}

func (s *GroupService) UpdateGroup(ctx context.Context, userID, groupID int64, u tether.GroupUpdate) (*tether.Group, error) {
	if u.Name == nil && u.AvatarURL == nil && u.Announcement == nil {
		return nil, tether.Errorf(tether.EINVALID, "set at least one of name, avatar_url and announcement")
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	var out *tether.Group
	err := s.write(ctx, "update group", func(tx *gorm.DB) error {
		g, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if !tether.CanManageGroup(me.Role) {
			return tether.Errorf(tether.EFORBIDDEN, "only the owner and admins may change the group")
		}
		if u.Name != nil {
			g.Name = *u.Name
		}
		if u.AvatarURL != nil {
			g.AvatarURL = *u.AvatarURL
		}
		if u.Announcement != nil {
			g.Announcement = *u.Announcement
		}
		g.UpdatedAt = now()
		err = tx.Model(&groupRow{}).Where("id = ?", g.ID).Updates(map[string]any{
			"name": g.Name, "avatar_url": g.AvatarURL, "announcement": g.Announcement, "updated_at": g.UpdatedAt,
		}).Error
		if err != nil {
			return err
		}
		out = g.group(me.Role)
		return s.emitToMembers(tx, g.ID, nil, tether.GroupEvent{GroupID: g.ID, Type: tether.GroupUpdated, ActorID: userID})
	})
	return out, err
}

// emitToMembers appends ev to the timelines of the group's members now and
// of extra (members who just left or were removed).
func (s *GroupService) emitToMembers(tx *gorm.DB, gid int64, extra []int64, ev tether.GroupEvent) error {
	ids, err := memberIDs(tx, gid)
	if err != nil {
		return err
	}
	ids = append(ids, extra...)
	if len(ids) == 0 {
		return nil
	}
	return emit(tx, ids, ev)
}

func (s *GroupService) DissolveGroup(ctx context.Context, userID, groupID int64) error {
	return s.write(ctx, "dissolve group", func(tx *gorm.DB) error {
		_, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if me.Role != tether.RoleOwner {
			return tether.Errorf(tether.EFORBIDDEN, "only the owner may dissolve the group")
		}
		ids, err := memberIDs(tx, groupID)
		if err != nil {
			return err
		}
		// The rows stay for the messages that refer to them; without
		// members nobody can send to or read the group any more.
		if err := tx.Where("group_id = ?", groupID).Delete(&groupInvitationRow{}).Error; err != nil {
			return err
		}
		if err := tx.Where("group_id = ?", groupID).Delete(&groupMemberRow{}).Error; err != nil {
			return err
		}
		at := now()
		err = tx.Model(&groupRow{}).Where("id = ?", groupID).Updates(map[string]any{
			"dissolved_at": at, "updated_at": at, "member_count": 0, "muted_all": false,
		}).Error
		if err != nil {
			return err
		}
		return emit(tx, ids, tether.GroupEvent{GroupID: groupID, Type: tether.GroupDissolved, ActorID: userID})
	})
}

func (s *GroupService) Members(ctx context.Context, userID, groupID int64, cursor string, limit int) (*tether.GroupMemberPage, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	after, err := parseIDCursor(cursor)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.readAsMember(ctx, userID, groupID); err != nil {
		return nil, err
	}
	g := s.db.g.WithContext(ctx)
	var rows []groupMemberRow
	if err := g.Where("group_id = ? AND user_id > ?", groupID, after).Order("user_id").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list group members: %w", err)
	}
	page := &tether.GroupMemberPage{Members: make([]tether.GroupMember, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		page.NextCursor = strconv.FormatInt(rows[limit-1].UserID, 10)
	}
	if len(rows) == 0 {
		return page, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.UserID
	}
	var users []userRow
	if err := g.Select("id", "username").Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, fmt.Errorf("store: list group members: %w", err)
	}
	names := make(map[int64]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Username
	}
	at := now()
	for _, r := range rows {
		page.Members = append(page.Members, r.member(names[r.UserID], at))
	}
	return page, nil
}

// member is the api view of a member row at a time: a mute that ended is not shown.
func (m groupMemberRow) member(username string, at time.Time) tether.GroupMember {
	out := tether.GroupMember{UserID: m.UserID, Username: username, Role: m.Role, JoinedAt: m.JoinedAt.UTC()}
	if m.MutedUntil != nil && m.MutedUntil.After(at) {
		u := m.MutedUntil.UTC()
		out.MutedUntil = &u
	}
	return out
}

func (s *GroupService) AddMembers(ctx context.Context, userID, groupID int64, userIDs []int64) (*tether.Group, error) {
	if len(userIDs) == 0 || len(userIDs) > tether.MaxMembersPerCall {
		return nil, tether.Errorf(tether.EINVALID, "user_ids must name 1 to %d users", tether.MaxMembersPerCall)
	}
	ids, err := uniqueIDs(userIDs, 0)
	if err != nil {
		return nil, err
	}
	var out *tether.Group
	err = s.write(ctx, "add group members", func(tx *gorm.DB) error {
		g, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if !tether.CanManageGroup(me.Role) {
			return tether.Errorf(tether.EFORBIDDEN, "only the owner and admins may add members")
		}
		var present []int64
		if err := tx.Model(&groupMemberRow{}).Where("group_id = ? AND user_id IN ?", groupID, ids).Pluck("user_id", &present).Error; err != nil {
			return err
		}
		fresh := slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return slices.Contains(present, id) })
		out = g.group(me.Role)
		if len(fresh) == 0 {
			return nil // everyone is in already: nothing changes, nothing to tell
		}
		if err := checkJoinable(tx, userID, fresh); err != nil {
			return err
		}
		if g.MemberCount+len(fresh) > tether.MaxGroupMembers {
			return tether.Errorf(tether.ECONFLICT, "the group has %d members; adding %d would pass the limit of %d", g.MemberCount, len(fresh), tether.MaxGroupMembers)
		}
		if err := s.join(tx, &g, fresh); err != nil {
			return err
		}
		out = g.group(me.Role)
		return s.emitToMembers(tx, groupID, nil, tether.GroupEvent{GroupID: groupID, Type: tether.GroupMembersAdded, ActorID: userID, UserIDs: fresh})
	})
	return out, err
}

// join inserts users (not members yet) as plain members of the locked group
// g, drops their pending invitations into it and counts them.
func (s *GroupService) join(tx *gorm.DB, g *groupRow, users []int64) error {
	at := now()
	rows := make([]groupMemberRow, 0, len(users))
	for _, id := range users {
		rows = append(rows, groupMemberRow{GroupID: g.ID, UserID: id, Role: tether.RoleMember, JoinedAt: at})
	}
	if err := tx.CreateInBatches(rows, fanoutChunk).Error; err != nil {
		return err
	}
	for chunk := range slices.Chunk(users, fanoutChunk) {
		if err := tx.Where("group_id = ? AND invitee_id IN ?", g.ID, chunk).Delete(&groupInvitationRow{}).Error; err != nil {
			return err
		}
	}
	g.MemberCount += len(users)
	g.UpdatedAt = at
	return tx.Model(&groupRow{}).Where("id = ?", g.ID).Updates(map[string]any{"member_count": g.MemberCount, "updated_at": at}).Error
}

// drop deletes one member of the locked group g and counts it.
func drop(tx *gorm.DB, g *groupRow, uid int64) error {
	if err := tx.Where("group_id = ? AND user_id = ?", g.ID, uid).Delete(&groupMemberRow{}).Error; err != nil {
		return err
	}
	g.MemberCount--
	g.UpdatedAt = now()
	return tx.Model(&groupRow{}).Where("id = ?", g.ID).Updates(map[string]any{"member_count": g.MemberCount, "updated_at": g.UpdatedAt}).Error
}

func (s *GroupService) RemoveMember(ctx context.Context, userID, groupID, memberID int64) error {
	if memberID == userID {
		return s.LeaveGroup(ctx, userID, groupID)
	}
	if memberID <= 0 {
		return tether.Errorf(tether.EINVALID, "user_id must be a positive user id")
	}
	return s.write(ctx, "remove group member", func(tx *gorm.DB) error {
		g, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if !tether.CanManageGroup(me.Role) {
			return tether.Errorf(tether.EFORBIDDEN, "only the owner and admins may remove members")
		}
		target, err := targetMember(tx, groupID, memberID)
		if err != nil {
			return err
		}
		switch {
		case target.Role == tether.RoleOwner:
			return tether.Errorf(tether.EFORBIDDEN, "nobody can remove the owner")
		case !tether.Outranks(me.Role, target.Role):
			return tether.Errorf(tether.EFORBIDDEN, "only the owner may remove admins")
		}
		if err := drop(tx, &g, memberID); err != nil {
			return err
		}
		return s.emitToMembers(tx, groupID, []int64{memberID}, tether.GroupEvent{GroupID: groupID, Type: tether.GroupMembersRemoved, ActorID: userID, UserIDs: []int64{memberID}})
	})
}

func (s *GroupService) LeaveGroup(ctx context.Context, userID, groupID int64) error {
	return s.write(ctx, "leave group", func(tx *gorm.DB) error {
		g, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if me.Role == tether.RoleOwner {
			return tether.Errorf(tether.ECONFLICT, "the owner cannot leave: transfer ownership first, or dissolve the group")
		}
		if err := drop(tx, &g, userID); err != nil {
			return err
		}
		return s.emitToMembers(tx, groupID, []int64{userID}, tether.GroupEvent{GroupID: groupID, Type: tether.GroupLeft, ActorID: userID, UserIDs: []int64{userID}})
	})
}

func (s *GroupService) SetRole(ctx context.Context, userID, groupID, memberID int64, role string) error {
	if !tether.AssignableRole(role) {
		return tether.Errorf(tether.EINVALID, "role must be admin or member")
	}
	if memberID <= 0 {
		return tether.Errorf(tether.EINVALID, "user_id must be a positive user id")
	}
	return s.write(ctx, "set group role", func(tx *gorm.DB) error {
		_, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if me.Role != tether.RoleOwner {
			return tether.Errorf(tether.EFORBIDDEN, "only the owner may change roles")
		}
		target, err := targetMember(tx, groupID, memberID)
		if err != nil {
			return err
		}
		if target.Role == tether.RoleOwner {
			return tether.Errorf(tether.ECONFLICT, "the owner's role changes only by transferring ownership")
		}
		if target.Role == role {
			return nil
		}
		if err := tx.Model(&groupMemberRow{}).Where("group_id = ? AND user_id = ?", groupID, memberID).Update("role", role).Error; err != nil {
			return err
		}
		return s.emitToMembers(tx, groupID, nil, tether.GroupEvent{GroupID: groupID, Type: tether.GroupRoleChanged, ActorID: userID, UserIDs: []int64{memberID}, Role: role})
	})
}

func (s *GroupService) TransferOwnership(ctx context.Context, userID, groupID, newOwnerID int64) error {
	if newOwnerID <= 0 {
		return tether.Errorf(tether.EINVALID, "user_id must be a positive user id")
	}
	if newOwnerID == userID {
		return tether.Errorf(tether.EINVALID, "you are the owner already")
	}
	return s.write(ctx, "transfer group", func(tx *gorm.DB) error {
		_, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if me.Role != tether.RoleOwner {
			return tether.Errorf(tether.EFORBIDDEN, "only the owner may transfer ownership")
		}
		if _, err := targetMember(tx, groupID, newOwnerID); err != nil {
			return err
		}
		set := func(uid int64, role string) error {
			return tx.Model(&groupMemberRow{}).Where("group_id = ? AND user_id = ?", groupID, uid).Update("role", role).Error
		}
		if err := set(userID, tether.RoleAdmin); err != nil {
			return err
		}
		if err := set(newOwnerID, tether.RoleOwner); err != nil {
			return err
		}
		if err := tx.Model(&groupRow{}).Where("id = ?", groupID).Updates(map[string]any{"owner_id": newOwnerID, "updated_at": now()}).Error; err != nil {
			return err
		}
		return s.emitToMembers(tx, groupID, nil, tether.GroupEvent{GroupID: groupID, Type: tether.GroupOwnerTransferred, ActorID: userID, UserIDs: []int64{newOwnerID}})
	})
}

func (s *GroupService) MuteMember(ctx context.Context, userID, groupID, memberID int64, until *time.Time) (*tether.GroupMember, error) {
	if memberID <= 0 {
		return nil, tether.Errorf(tether.EINVALID, "user_id must be a positive user id")
	}
	at := now()
	if until != nil {
		u := until.UTC().Truncate(time.Millisecond)
		if !u.After(at) || u.Sub(at) > tether.MaxGroupMuteSeconds*time.Second {
			return nil, tether.Errorf(tether.EINVALID, "a mute must end in the future and within %d days", tether.MaxGroupMuteSeconds/86400)
		}
		until = &u
	}
	var out tether.GroupMember
	err := s.write(ctx, "mute group member", func(tx *gorm.DB) error {
		_, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if memberID == userID {
			return tether.Errorf(tether.EFORBIDDEN, "you cannot mute yourself")
		}
		if !tether.CanManageGroup(me.Role) {
			return tether.Errorf(tether.EFORBIDDEN, "only the owner and admins may mute members")
		}
		target, err := targetMember(tx, groupID, memberID)
		if err != nil {
			return err
		}
		switch {
		case target.Role == tether.RoleOwner:
			return tether.Errorf(tether.EFORBIDDEN, "nobody can mute the owner")
		case !tether.Outranks(me.Role, target.Role):
			return tether.Errorf(tether.EFORBIDDEN, "only the owner may mute admins")
		}
		if err := tx.Model(&groupMemberRow{}).Where("group_id = ? AND user_id = ?", groupID, memberID).Update("muted_until", until).Error; err != nil {
			return err
		}
		target.MutedUntil = until
		var name string
		var names []string
		if err := tx.Model(&userRow{}).Where("id = ?", memberID).Limit(1).Pluck("username", &names).Error; err != nil {
			return err
		}
		if len(names) > 0 {
			name = names[0]
		}
		out = target.member(name, at)
		ev := tether.GroupEvent{GroupID: groupID, Type: tether.GroupUnmuted, ActorID: userID, UserIDs: []int64{memberID}}
		if until != nil {
			ev.Type, ev.Until = tether.GroupMuted, until
		}
		return s.emitToMembers(tx, groupID, nil, ev)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func (s *GroupService) MuteGroup(ctx context.Context, userID, groupID int64, muted bool) (*tether.Group, error) {
	var out *tether.Group
	err := s.write(ctx, "mute group", func(tx *gorm.DB) error {
		g, me, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		if !tether.CanManageGroup(me.Role) {
			return tether.Errorf(tether.EFORBIDDEN, "only the owner and admins may mute the group")
		}
		out = g.group(me.Role)
		if g.MutedAll == muted {
			return nil
		}
		g.MutedAll, g.UpdatedAt = muted, now()
		if err := tx.Model(&groupRow{}).Where("id = ?", groupID).Updates(map[string]any{"muted_all": muted, "updated_at": g.UpdatedAt}).Error; err != nil {
			return err
		}
		out = g.group(me.Role)
		ev := tether.GroupEvent{GroupID: groupID, Type: tether.GroupUnmuted, ActorID: userID}
		if muted {
			ev.Type = tether.GroupMuted
		}
		return s.emitToMembers(tx, groupID, nil, ev)
	})
	return out, err
}

func (s *GroupService) Invite(ctx context.Context, userID, groupID, inviteeID int64) (*tether.Invitation, error) {
	if inviteeID <= 0 {
		return nil, tether.Errorf(tether.EINVALID, "user_id must be a positive user id")
	}
	if inviteeID == userID {
		return nil, tether.Errorf(tether.EINVALID, "you cannot invite yourself")
	}
	var inv groupInvitationRow
	var name string
	err := s.write(ctx, "invite", func(tx *gorm.DB) error {
		g, _, err := lockAsMember(tx, groupID, userID)
		if err != nil {
			return err
		}
		name = g.Name
		var users int64
		if err := tx.Model(&userRow{}).Where("id = ?", inviteeID).Count(&users).Error; err != nil {
			return err
		}
		if users == 0 {
			return tether.Errorf(tether.ENOTFOUND, "user not found")
		}
		if refused, err := blocked(tx, inviteeID, userID); err != nil {
			return err
		} else if refused {
			return tether.Errorf(tether.EFORBIDDEN, "you cannot invite this user")
		}
		if m, err := member(tx, groupID, inviteeID); err != nil {
			return err
		} else if m != nil {
			return tether.Errorf(tether.ECONFLICT, "the user is a member already")
		}
		if g.MemberCount >= tether.MaxGroupMembers {
			return tether.Errorf(tether.ECONFLICT, "the group is full (%d members)", tether.MaxGroupMembers)
		}
		inv = groupInvitationRow{GroupID: groupID, InviterID: userID, InviteeID: inviteeID, CreatedAt: now()}
		if err := tx.Create(&inv).Error; err != nil {
			if isDuplicate(err) {
				return tether.Errorf(tether.ECONFLICT, "the user is invited already")
			}
			return err
		}
		return emit(tx, []int64{inviteeID}, tether.GroupEvent{GroupID: groupID, Type: tether.GroupInvited, ActorID: userID, UserIDs: []int64{inviteeID}})
	})
	if err != nil {
		return nil, err
	}
	return inv.invitation(name), nil
}

func (r groupInvitationRow) invitation(groupName string) *tether.Invitation {
	return &tether.Invitation{ID: r.ID, GroupID: r.GroupID, GroupName: groupName, InviterID: r.InviterID, InviteeID: r.InviteeID, CreatedAt: r.CreatedAt.UTC()}
}

func (s *GroupService) Invitations(ctx context.Context, userID int64, cursor string, limit int) (*tether.InvitationPage, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	after, err := parseIDCursor(cursor)
	if err != nil {
		return nil, err
	}
	// Dissolving a group deletes its invitations, so every one listed is live.
	g := s.db.g.WithContext(ctx)
	var rows []groupInvitationRow
	if err := g.Where("invitee_id = ? AND id > ?", userID, after).Order("id").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list invitations: %w", err)
	}
	page := &tether.InvitationPage{Invitations: make([]tether.Invitation, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		page.NextCursor = strconv.FormatInt(rows[limit-1].ID, 10)
	}
	if len(rows) == 0 {
		return page, nil
	}
	gids := make([]int64, len(rows))
	for i, r := range rows {
		gids[i] = r.GroupID
	}
	var groups []groupRow
	if err := g.Select("id", "name").Where("id IN ?", gids).Find(&groups).Error; err != nil {
		return nil, fmt.Errorf("store: list invitations: %w", err)
	}
	names := make(map[int64]string, len(groups))
	for _, gr := range groups {
		names[gr.ID] = gr.Name
	}
	for _, r := range rows {
		page.Invitations = append(page.Invitations, *r.invitation(names[r.GroupID]))
	}
	return page, nil
}

// invitationRow reads an invitation; nil if there is none.
func invitationRow(tx *gorm.DB, id int64) (*groupInvitationRow, error) {
	var rows []groupInvitationRow
	if err := tx.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

var errInvitationNotFound = tether.Errorf(tether.ENOTFOUND, "invitation not found")

func (s *GroupService) AcceptInvitation(ctx context.Context, userID, invitationID int64) (*tether.Group, error) {
	var out *tether.Group
	err := s.write(ctx, "accept invitation", func(tx *gorm.DB) error {
		inv, err := invitationRow(tx, invitationID)
		if err != nil {
			return err
		}
		if inv == nil || inv.InviteeID != userID {
			return errInvitationNotFound
		}
		g, err := lockGroup(tx, inv.GroupID)
		if errors.Is(err, errGroupNotFound) {
			return errInvitationNotFound
		} else if err != nil {
			return err
		}
		// Under the group lock: a concurrent accept or add is settled.
		if m, err := member(tx, g.ID, userID); err != nil {
			return err
		} else if m != nil {
			out = g.group(m.Role)
			return tx.Where("id = ?", invitationID).Delete(&groupInvitationRow{}).Error
		}
		if g.MemberCount >= tether.MaxGroupMembers {
			return tether.Errorf(tether.ECONFLICT, "the group is full (%d members)", tether.MaxGroupMembers)
		}
		if err := s.join(tx, &g, []int64{userID}); err != nil {
			return err
		}
		out = g.group(tether.RoleMember)
		return s.emitToMembers(tx, g.ID, nil, tether.GroupEvent{GroupID: g.ID, Type: tether.GroupMembersAdded, ActorID: userID, UserIDs: []int64{userID}})
	})
	return out, err
}

func (s *GroupService) DeleteInvitation(ctx context.Context, userID, invitationID int64) error {
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		inv, err := invitationRow(tx, invitationID)
		if err != nil {
			return err
		}
		if inv == nil {
			return errInvitationNotFound
		}
		if inv.InviteeID != userID && inv.InviterID != userID {
			m, err := member(tx, inv.GroupID, userID)
			if err != nil {
				return err
			}
			if m == nil || !tether.CanManageGroup(m.Role) {
				// Only the invitee, the inviter and the group's managers know of it.
				return errInvitationNotFound
			}
		}
		return tx.Where("id = ?", invitationID).Delete(&groupInvitationRow{}).Error
	})
	if err != nil && tether.ErrorCode(err) == tether.EINTERNAL {
		return fmt.Errorf("store: delete invitation: %w", err)
	}
	return err
}
