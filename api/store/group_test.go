package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

// groupFixture is a fixture with the group and social services.
type groupFixture struct {
	*fixture
	groups tether.GroupService
	social tether.SocialService
}

func newGroupFixture(t *testing.T, db *store.DB) *groupFixture {
	return &groupFixture{fixture: newFixture(t, db, nil), groups: store.NewGroupService(db, nil), social: store.NewSocialService(db)}
}

// users registers n users named prefix1..prefixN and returns their ids.
func (f *groupFixture) users(t *testing.T, prefix string, n int) []int64 {
	t.Helper()
	ids, err := store.CreateUsersForTest(testCtx(t), f.db, prefix, n)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// groupEvents returns the group events in uid's timeline, oldest first.
func (f *groupFixture) groupEvents(t *testing.T, uid int64) []tether.GroupEvent {
	t.Helper()
	var out []tether.GroupEvent
	var since uint64
	for {
		page, err := f.msgs.Sync(testCtx(t), uid, since, tether.MaxPageSize)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.Kind != tether.EntryGroup {
				continue
			}
			var ev tether.GroupEvent
			if err := json.Unmarshal(e.Event, &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
		since = page.NextSince
		if !page.HasMore {
			return out
		}
	}
}

// lastEvent returns the type of the newest group event of uid ("" if none).
func (f *groupFixture) lastEvent(t *testing.T, uid int64) tether.GroupEvent {
	t.Helper()
	evs := f.groupEvents(t, uid)
	if len(evs) == 0 {
		return tether.GroupEvent{}
	}
	return evs[len(evs)-1]
}

func (f *groupFixture) sendGroup(ctx context.Context, from, gid int64, cid string) error {
	_, _, err := f.msgs.Send(ctx, tether.Caller{UserID: from}, tether.NewMessage{GroupID: gid, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(`{"text":"hi"}`)})
	return err
}

func checkCount(t *testing.T, db *store.DB, gid int64, want int64) {
	t.Helper()
	stored, rows, err := store.GroupMemberCountForTest(testCtx(t), db, gid)
	if err != nil {
		t.Fatal(err)
	}
	if stored != want || rows != want {
		t.Fatalf("member_count %d, member rows %d, want %d", stored, rows, want)
	}
}

func TestGroups_CreateReadUpdateDissolve(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", 4)
		owner, admin, member, outsider := u[0], u[1], u[2], u[3]
		g, err := f.groups.CreateGroup(ctx, owner, tether.NewGroup{Name: "Team", Announcement: "hello", MemberIDs: []int64{admin, member, member, owner}})
		if err != nil {
			t.Fatal(err)
		}
		if g.OwnerID != owner || g.MemberCount != 3 || g.MyRole != tether.RoleOwner || g.Name != "Team" {
			t.Fatalf("created %+v", g)
		}
		checkCount(t, db, g.ID, 3)
		for _, uid := range []int64{owner, admin, member} {
			if ev := f.lastEvent(t, uid); ev.Type != tether.GroupCreated || ev.GroupID != g.ID || ev.ActorID != owner {
				t.Fatalf("user %d: last event %+v, want created", uid, ev)
			}
		}
		if evs := f.groupEvents(t, outsider); len(evs) != 0 {
			t.Fatalf("outsider got %+v", evs)
		}
		if err := f.groups.SetRole(ctx, owner, g.ID, admin, tether.RoleAdmin); err != nil {
			t.Fatal(err)
		}

		got, err := f.groups.Group(ctx, member, g.ID)
		if err != nil || got.MyRole != tether.RoleMember || got.Announcement != "hello" {
			t.Fatalf("member reads %+v, %v", got, err)
		}
		_, err = f.groups.Group(ctx, outsider, g.ID)
		wantCode(t, err, tether.ENOTFOUND)

		name := "Renamed"
		if _, err := f.groups.UpdateGroup(ctx, admin, g.ID, tether.GroupUpdate{Name: &name}); err != nil {
			t.Fatal(err)
		}
		if ev := f.lastEvent(t, member); ev.Type != tether.GroupUpdated || ev.ActorID != admin {
			t.Fatalf("member's last event %+v, want updated", ev)
		}
		_, err = f.groups.UpdateGroup(ctx, member, g.ID, tether.GroupUpdate{Name: &name})
		wantCode(t, err, tether.EFORBIDDEN)
		_, err = f.groups.UpdateGroup(ctx, outsider, g.ID, tether.GroupUpdate{Name: &name})
		wantCode(t, err, tether.ENOTFOUND)
		_, err = f.groups.UpdateGroup(ctx, owner, g.ID, tether.GroupUpdate{})
		wantCode(t, err, tether.EINVALID)
		bad := "ftp://x"
		_, err = f.groups.UpdateGroup(ctx, owner, g.ID, tether.GroupUpdate{AvatarURL: &bad})
		wantCode(t, err, tether.EINVALID)

		if err := f.sendGroup(ctx, member, g.ID, "before-dissolve"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.groups.DissolveGroup(ctx, admin, g.ID), tether.EFORBIDDEN)
		wantCode(t, f.groups.DissolveGroup(ctx, outsider, g.ID), tether.ENOTFOUND)
		if err := f.groups.DissolveGroup(ctx, owner, g.ID); err != nil {
			t.Fatal(err)
		}
		for _, uid := range []int64{owner, admin, member} {
			if ev := f.lastEvent(t, uid); ev.Type != tether.GroupDissolved {
				t.Fatalf("user %d: last event %+v, want dissolved", uid, ev)
			}
			_, err := f.groups.Group(ctx, uid, g.ID)
			wantCode(t, err, tether.ENOTFOUND)
			wantCode(t, f.sendGroup(ctx, uid, g.ID, "after"), tether.ENOTFOUND)
			_, err = f.msgs.History(ctx, uid, fmt.Sprintf("g:%d", g.ID), tether.HistoryQuery{})
			wantCode(t, err, tether.ENOTFOUND)
		}
		page, err := f.groups.Groups(ctx, owner, "", 10)
		if err != nil || len(page.Groups) != 0 {
			t.Fatalf("groups after dissolve: %+v, %v", page, err)
		}
	})
}

func TestGroups_RejectsBadInput(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", 2)
		for _, ng := range []tether.NewGroup{
			{Name: ""},
			{Name: "   "},
			{Name: string(make([]rune, 65))},
			{Name: "ok", Announcement: string(make([]byte, 2049))},
			{Name: "ok", AvatarURL: "not a url"},
			{Name: "ok", MemberIDs: []int64{-1}},
			{Name: "ok", MemberIDs: make([]int64, 2000)},
		} {
			_, err := f.groups.CreateGroup(ctx, u[0], ng)
			wantCode(t, err, tether.EINVALID)
		}
		_, err := f.groups.CreateGroup(ctx, u[0], tether.NewGroup{Name: "ok", MemberIDs: []int64{u[1], 1 << 40}})
		wantCode(t, err, tether.ENOTFOUND)
		_, err = f.groups.Groups(ctx, u[0], "x", 10)
		wantCode(t, err, tether.EINVALID)
	})
}

func TestGroups_ListsAndMembersArePaged(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", 7)
		var gids []int64
		for i := range 3 {
			g, err := f.groups.CreateGroup(ctx, u[0], tether.NewGroup{Name: fmt.Sprintf("g%d", i), MemberIDs: u[1:]})
			if err != nil {
				t.Fatal(err)
			}
			gids = append(gids, g.ID)
		}
		var seen []int64
		cursor := ""
		for {
			page, err := f.groups.Groups(ctx, u[3], cursor, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range page.Groups {
				if g.MyRole != tether.RoleMember || g.MemberCount != 7 {
					t.Fatalf("listed %+v", g)
				}
				seen = append(seen, g.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if !slices.Equal(seen, gids) {
			t.Fatalf("listed %v, want %v", seen, gids)
		}
		var members []tether.GroupMember
		cursor = ""
		for {
			page, err := f.groups.Members(ctx, u[6], gids[0], cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			members = append(members, page.Members...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if len(members) != 7 || members[0].UserID != u[0] || members[0].Role != tether.RoleOwner || members[0].Username != "u0" || members[1].Role != tether.RoleMember {
			t.Fatalf("members %+v", members)
		}
		outsider := f.users(t, "x", 1)[0]
		_, err := f.groups.Members(ctx, outsider, gids[0], "", 10)
		wantCode(t, err, tether.ENOTFOUND)
	})
}

func TestGroups_MembershipPermissions(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", 8)
		owner, admin, admin2, m1, m2, m3, outsider, newbie := u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7]
		g, err := f.groups.CreateGroup(ctx, owner, tether.NewGroup{Name: "perm", MemberIDs: []int64{admin, admin2, m1, m2, m3}})
		if err != nil {
			t.Fatal(err)
		}
		gid := g.ID
		// Roles: owner only.
		wantCode(t, f.groups.SetRole(ctx, admin, gid, m1, tether.RoleAdmin), tether.EFORBIDDEN)
		wantCode(t, f.groups.SetRole(ctx, outsider, gid, m1, tether.RoleAdmin), tether.ENOTFOUND)
		wantCode(t, f.groups.SetRole(ctx, owner, gid, m1, "owner"), tether.EINVALID)
		wantCode(t, f.groups.SetRole(ctx, owner, gid, owner, tether.RoleMember), tether.ECONFLICT)
		wantCode(t, f.groups.SetRole(ctx, owner, gid, outsider, tether.RoleAdmin), tether.ENOTFOUND)
		for _, a := range []int64{admin, admin2} {
			if err := f.groups.SetRole(ctx, owner, gid, a, tether.RoleAdmin); err != nil {
				t.Fatal(err)
			}
		}
		if ev := f.lastEvent(t, m1); ev.Type != tether.GroupRoleChanged || ev.Role != tether.RoleAdmin || !slices.Equal(ev.UserIDs, []int64{admin2}) {
			t.Fatalf("last event %+v, want role_changed", ev)
		}

		// Adding: owner and admins.
		_, err = f.groups.AddMembers(ctx, m1, gid, []int64{newbie})
		wantCode(t, err, tether.EFORBIDDEN)
		_, err = f.groups.AddMembers(ctx, outsider, gid, []int64{newbie})
		wantCode(t, err, tether.ENOTFOUND)
		_, err = f.groups.AddMembers(ctx, admin, gid, nil)
		wantCode(t, err, tether.EINVALID)
		g, err = f.groups.AddMembers(ctx, admin, gid, []int64{newbie, m1})
		if err != nil || g.MemberCount != 7 {
			t.Fatalf("add: %+v, %v", g, err)
		}
		if ev := f.lastEvent(t, newbie); ev.Type != tether.GroupMembersAdded || !slices.Equal(ev.UserIDs, []int64{newbie}) {
			t.Fatalf("newbie's last event %+v, want members_added of newbie only", ev)
		}
		// Already a member: ignored, no event.
		before := len(f.groupEvents(t, m2))
		if _, err := f.groups.AddMembers(ctx, owner, gid, []int64{newbie}); err != nil {
			t.Fatal(err)
		}
		if n := len(f.groupEvents(t, m2)); n != before {
			t.Fatalf("re-adding a member made an event")
		}
		checkCount(t, db, gid, 7)

		// Removing: owner removes admins and members, admins members only, nobody the owner.
		wantCode(t, f.groups.RemoveMember(ctx, m1, gid, m2), tether.EFORBIDDEN)
		wantCode(t, f.groups.RemoveMember(ctx, admin, gid, admin2), tether.EFORBIDDEN)
		wantCode(t, f.groups.RemoveMember(ctx, admin, gid, owner), tether.EFORBIDDEN)
		wantCode(t, f.groups.RemoveMember(ctx, outsider, gid, m2), tether.ENOTFOUND)
		wantCode(t, f.groups.RemoveMember(ctx, admin, gid, outsider), tether.ENOTFOUND)
		if err := f.groups.RemoveMember(ctx, admin, gid, m3); err != nil {
			t.Fatal(err)
		}
		for _, uid := range []int64{m3, m1, owner} {
			if ev := f.lastEvent(t, uid); ev.Type != tether.GroupMembersRemoved || !slices.Equal(ev.UserIDs, []int64{m3}) {
				t.Fatalf("user %d: last event %+v, want members_removed of m3", uid, ev)
			}
		}
		_, err = f.groups.Group(ctx, m3, gid)
		wantCode(t, err, tether.ENOTFOUND)
		if err := f.groups.RemoveMember(ctx, owner, gid, admin2); err != nil {
			t.Fatal(err)
		}
		checkCount(t, db, gid, 5)

		// Muting members: the owner mutes anyone but self, admins members only.
		until := time.Now().Add(time.Hour)
		_, err = f.groups.MuteMember(ctx, m1, gid, m2, &until)
		wantCode(t, err, tether.EFORBIDDEN)
		_, err = f.groups.MuteMember(ctx, admin, gid, owner, &until)
		wantCode(t, err, tether.EFORBIDDEN)
		_, err = f.groups.MuteMember(ctx, owner, gid, owner, &until)
		wantCode(t, err, tether.EFORBIDDEN)
		past := time.Now().Add(-time.Minute)
		_, err = f.groups.MuteMember(ctx, owner, gid, m1, &past)
		wantCode(t, err, tether.EINVALID)
		mm, err := f.groups.MuteMember(ctx, admin, gid, m1, &until)
		if err != nil || mm.MutedUntil == nil || mm.UserID != m1 {
			t.Fatalf("mute: %+v, %v", mm, err)
		}
		if ev := f.lastEvent(t, m2); ev.Type != tether.GroupMuted || ev.Until == nil || !slices.Equal(ev.UserIDs, []int64{m1}) {
			t.Fatalf("last event %+v, want muted m1", ev)
		}
		wantCode(t, f.sendGroup(ctx, m1, gid, "muted"), tether.EFORBIDDEN)
		if _, err := f.groups.MuteMember(ctx, owner, gid, admin, &until); err != nil {
			t.Fatalf("owner mutes admin: %v", err)
		}
		if _, err := f.groups.MuteMember(ctx, admin, gid, m1, nil); err != nil {
			t.Fatal(err)
		}
		if err := f.sendGroup(ctx, m1, gid, "unmuted"); err != nil {
			t.Fatalf("unmuted member sends: %v", err)
		}

		// Muting the group: owner and admins; then only they speak.
		_, err = f.groups.MuteGroup(ctx, m1, gid, true)
		wantCode(t, err, tether.EFORBIDDEN)
		if g, err := f.groups.MuteGroup(ctx, owner, gid, true); err != nil || !g.MutedAll {
			t.Fatalf("mute group: %+v, %v", g, err)
		}
		if ev := f.lastEvent(t, m1); ev.Type != tether.GroupMuted || len(ev.UserIDs) != 0 {
			t.Fatalf("last event %+v, want muted (whole group)", ev)
		}
		wantCode(t, f.sendGroup(ctx, m1, gid, "all-muted"), tether.EFORBIDDEN)
		if err := f.sendGroup(ctx, owner, gid, "owner-speaks"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.groups.MuteGroup(ctx, admin, gid, false); err != nil {
			t.Fatal(err)
		}
		if err := f.sendGroup(ctx, m1, gid, "all-unmuted"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGroups_TransferAndLeave(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", 4)
		owner, m1, m2, outsider := u[0], u[1], u[2], u[3]
		g, err := f.groups.CreateGroup(ctx, owner, tether.NewGroup{Name: "t", MemberIDs: []int64{m1, m2}})
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.groups.LeaveGroup(ctx, owner, g.ID), tether.ECONFLICT)
		wantCode(t, f.groups.RemoveMember(ctx, owner, g.ID, owner), tether.ECONFLICT)
		wantCode(t, f.groups.TransferOwnership(ctx, m1, g.ID, m2), tether.EFORBIDDEN)
		wantCode(t, f.groups.TransferOwnership(ctx, owner, g.ID, outsider), tether.ENOTFOUND)
		wantCode(t, f.groups.TransferOwnership(ctx, owner, g.ID, owner), tether.EINVALID)
		if err := f.groups.TransferOwnership(ctx, owner, g.ID, m1); err != nil {
			t.Fatal(err)
		}
		if ev := f.lastEvent(t, m2); ev.Type != tether.GroupOwnerTransferred || !slices.Equal(ev.UserIDs, []int64{m1}) {
			t.Fatalf("last event %+v", ev)
		}
		got, err := f.groups.Group(ctx, owner, g.ID)
		if err != nil || got.OwnerID != m1 || got.MyRole != tether.RoleAdmin {
			t.Fatalf("after transfer the old owner sees %+v, %v", got, err)
		}
		// The old owner is an admin now and may leave; so may a member.
		if err := f.groups.LeaveGroup(ctx, owner, g.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.groups.RemoveMember(ctx, m2, g.ID, m2); err != nil {
			t.Fatal(err)
		}
		if ev := f.lastEvent(t, m2); ev.Type != tether.GroupLeft || !slices.Equal(ev.UserIDs, []int64{m2}) {
			t.Fatalf("leaver's last event %+v, want left", ev)
		}
		if ev := f.lastEvent(t, m1); ev.Type != tether.GroupLeft {
			t.Fatalf("owner's last event %+v, want left", ev)
		}
		wantCode(t, f.groups.LeaveGroup(ctx, m2, g.ID), tether.ENOTFOUND)
		checkCount(t, db, g.ID, 1)
	})
}

func TestGroups_BlockedUsersCannotBeAdded(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", 4)
		owner, friend, blocker, other := u[0], u[1], u[2], u[3]
		if err := f.social.Block(ctx, blocker, owner); err != nil {
			t.Fatal(err)
		}
		_, err := f.groups.CreateGroup(ctx, owner, tether.NewGroup{Name: "b", MemberIDs: []int64{friend, blocker}})
		wantCode(t, err, tether.EFORBIDDEN)
		g, err := f.groups.CreateGroup(ctx, owner, tether.NewGroup{Name: "b", MemberIDs: []int64{friend}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.groups.AddMembers(ctx, owner, g.ID, []int64{other, blocker})
		wantCode(t, err, tether.EFORBIDDEN)
		checkCount(t, db, g.ID, 2) // nothing of the refused call was applied
		_, err = f.groups.Invite(ctx, owner, g.ID, blocker)
		wantCode(t, err, tether.EFORBIDDEN)
		// The block is one-directional: the friend may invite the blocker.
		if _, err := f.groups.Invite(ctx, friend, g.ID, blocker); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGroups_MemberCap(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", tether.MaxGroupMembers+2)
		owner := u[0]
		g, err := f.groups.CreateGroup(ctx, owner, tether.NewGroup{Name: "big", MemberIDs: u[1 : tether.MaxGroupMembers-1]})
		if err != nil {
			t.Fatal(err)
		}
		if g.MemberCount != tether.MaxGroupMembers-1 {
			t.Fatalf("member_count %d", g.MemberCount)
		}
		last, extra, invitee := u[tether.MaxGroupMembers-1], u[tether.MaxGroupMembers], u[tether.MaxGroupMembers+1]
		inv, err := f.groups.Invite(ctx, owner, g.ID, invitee)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.groups.AddMembers(ctx, owner, g.ID, []int64{last, extra})
		wantCode(t, err, tether.ECONFLICT)
		if g, err = f.groups.AddMembers(ctx, owner, g.ID, []int64{last}); err != nil || g.MemberCount != tether.MaxGroupMembers {
			t.Fatalf("add the last one: %+v, %v", g, err)
		}
		_, err = f.groups.AddMembers(ctx, owner, g.ID, []int64{extra})
		wantCode(t, err, tether.ECONFLICT)
		_, err = f.groups.Invite(ctx, owner, g.ID, extra)
		wantCode(t, err, tether.ECONFLICT)
		_, err = f.groups.AcceptInvitation(ctx, invitee, inv.ID)
		wantCode(t, err, tether.ECONFLICT)
		checkCount(t, db, g.ID, tether.MaxGroupMembers)
		// A full group's send is one statement per step (fanoutChunk):
		// within both databases' placeholder limits.
		if err := f.sendGroup(ctx, last, g.ID, "full"); err != nil {
			t.Fatal(err)
		}
		if c, ok, err := store.ConversationForTest(ctx, db, owner, fmt.Sprintf("g:%d", g.ID)); err != nil || !ok || c.UnreadCount != 1 {
			t.Fatalf("owner's conversation after a send to the full group: %+v %v %v", c, ok, err)
		}
	})
}

func TestGroups_Invitations(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", 6)
		owner, admin, member, invitee, invitee2, stranger := u[0], u[1], u[2], u[3], u[4], u[5]
		g, err := f.groups.CreateGroup(ctx, owner, tether.NewGroup{Name: "inv", MemberIDs: []int64{admin, member}})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.groups.SetRole(ctx, owner, g.ID, admin, tether.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		_, err = f.groups.Invite(ctx, stranger, g.ID, invitee)
		wantCode(t, err, tether.ENOTFOUND)
		_, err = f.groups.Invite(ctx, member, g.ID, admin)
		wantCode(t, err, tether.ECONFLICT)
		_, err = f.groups.Invite(ctx, member, g.ID, member)
		wantCode(t, err, tether.EINVALID)
		_, err = f.groups.Invite(ctx, member, g.ID, 1<<40)
		wantCode(t, err, tether.ENOTFOUND)
		inv, err := f.groups.Invite(ctx, member, g.ID, invitee)
		if err != nil {
			t.Fatal(err)
		}
		if inv.GroupName != "inv" || inv.InviterID != member || inv.InviteeID != invitee {
			t.Fatalf("invitation %+v", inv)
		}
		_, err = f.groups.Invite(ctx, owner, g.ID, invitee)
		wantCode(t, err, tether.ECONFLICT)
		if ev := f.lastEvent(t, invitee); ev.Type != tether.GroupInvited || ev.ActorID != member {
			t.Fatalf("invitee's last event %+v, want invited", ev)
		}
		page, err := f.groups.Invitations(ctx, invitee, "", 10)
		if err != nil || len(page.Invitations) != 1 || page.Invitations[0].ID != inv.ID {
			t.Fatalf("invitations %+v, %v", page, err)
		}
		// Only the invitee accepts.
		_, err = f.groups.AcceptInvitation(ctx, stranger, inv.ID)
		wantCode(t, err, tether.ENOTFOUND)
		joined, err := f.groups.AcceptInvitation(ctx, invitee, inv.ID)
		if err != nil || joined.MemberCount != 4 || joined.MyRole != tether.RoleMember {
			t.Fatalf("accept: %+v, %v", joined, err)
		}
		if ev := f.lastEvent(t, owner); ev.Type != tether.GroupMembersAdded || !slices.Equal(ev.UserIDs, []int64{invitee}) {
			t.Fatalf("owner's last event %+v", ev)
		}
		_, err = f.groups.AcceptInvitation(ctx, invitee, inv.ID)
		wantCode(t, err, tether.ENOTFOUND)
		if page, _ := f.groups.Invitations(ctx, invitee, "", 10); len(page.Invitations) != 0 {
			t.Fatalf("accepted invitation still listed")
		}

		// Declining, and cancelling by the inviter or a manager; others see nothing.
		inv2, err := f.groups.Invite(ctx, member, g.ID, invitee2)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.groups.DeleteInvitation(ctx, stranger, inv2.ID), tether.ENOTFOUND)
		wantCode(t, f.groups.DeleteInvitation(ctx, invitee, inv2.ID), tether.ENOTFOUND)
		if err := f.groups.DeleteInvitation(ctx, admin, inv2.ID); err != nil {
			t.Fatal(err)
		}
		inv3, err := f.groups.Invite(ctx, member, g.ID, invitee2)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.groups.DeleteInvitation(ctx, invitee2, inv3.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.groups.DeleteInvitation(ctx, invitee2, inv3.ID), tether.ENOTFOUND)
		// Adding an invited user directly drops the invitation.
		inv4, err := f.groups.Invite(ctx, member, g.ID, invitee2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.groups.AddMembers(ctx, owner, g.ID, []int64{invitee2}); err != nil {
			t.Fatal(err)
		}
		_, err = f.groups.AcceptInvitation(ctx, invitee2, inv4.ID)
		wantCode(t, err, tether.ENOTFOUND)
		checkCount(t, db, g.ID, 5)
	})
}

// TestGroups_ConcurrentSendAndRemoveNeverReachesRemovedMember checks the
// group-row lock: messages race with members being removed and added back,
// and no removed member's timeline holds a group message between its
// members_removed and its next members_added entry; every member's
// timeline holds exactly the messages the sender's does while it is in.
func TestGroups_ConcurrentSendAndRemoveNeverReachesRemovedMember(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newGroupFixture(t, db)
		ctx := testCtx(t)
		u := f.users(t, "u", 7)
		owner, victims := u[0], u[4:]
		g, err := f.groups.CreateGroup(ctx, owner, tether.NewGroup{Name: "race", MemberIDs: u[1:]})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		done := make(chan struct{})
		for s, sender := range u[1:4] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					if err := f.sendGroup(ctx, sender, g.ID, fmt.Sprintf("s%d-%d", s, i)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		for range 8 {
			for _, v := range victims {
				if err := f.groups.RemoveMember(ctx, owner, g.ID, v); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.groups.AddMembers(ctx, owner, g.ID, victims); err != nil {
				t.Fatal(err)
			}
		}
		close(done)
		wg.Wait()
		for _, v := range victims {
			in, got, removals := true, 0, 0
			var since uint64
			for {
				page, err := f.msgs.Sync(ctx, v, since, tether.MaxPageSize)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Entries {
					switch {
					case e.Kind == tether.EntryMessage && !in:
						t.Fatalf("user %d: message %d arrived while removed (version %d)", v, e.Message.ID, e.Version)
					case e.Kind == tether.EntryMessage:
						got++
					case e.Kind == tether.EntryGroup:
						var ev tether.GroupEvent
						if err := json.Unmarshal(e.Event, &ev); err != nil {
							t.Fatal(err)
						}
						if slices.Contains(ev.UserIDs, v) && ev.Type == tether.GroupMembersRemoved {
							in = false
							removals++
						} else if slices.Contains(ev.UserIDs, v) && ev.Type == tether.GroupMembersAdded {
							in = true
						}
					}
				}
				since = page.NextSince
				if !page.HasMore {
					break
				}
			}
			if removals != 8 {
				t.Fatalf("user %d: %d removals in the timeline, want 8", v, removals)
			}
			t.Logf("user %d got %d messages while a member", v, got)
		}
	})
}
