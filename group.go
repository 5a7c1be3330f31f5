package tether

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Group limits. They are part of the contract (openapi.yaml).
const (
	MaxGroupNameLen     = 64   // characters
	MaxAnnouncementLen  = 2048 // characters
	MaxGroupMembers     = 2000 // the owner included; larger audiences use the push API
	MaxMembersPerCall   = 500  // user ids of one add-members call
	MaxGroupMuteSeconds = 366 * 24 * 3600
)

// Group member roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// CanManageGroup reports whether a member of role may change the group's
// settings, add and moderate members, and speak while the group is muted:
// the owner and admins.
func CanManageGroup(role string) bool { return role == RoleOwner || role == RoleAdmin }

// Outranks reports whether a member of role actor may remove or mute a
// member of role target: the owner anyone else, an admin plain members.
// Nobody outranks the owner.
func Outranks(actor, target string) bool {
	switch target {
	case RoleOwner:
		return false
	case RoleAdmin:
		return actor == RoleOwner
	default:
		return CanManageGroup(actor)
	}
}

// AssignableRole reports whether role may be given by SetRole; ownership
// changes only by TransferOwnership.
func AssignableRole(role string) bool { return role == RoleAdmin || role == RoleMember }

// Types of a GroupEvent.
const (
	GroupCreated          = "created"
	GroupUpdated          = "updated"
	GroupMembersAdded     = "members_added"
	GroupMembersRemoved   = "members_removed"
	GroupLeft             = "left"
	GroupRoleChanged      = "role_changed"
	GroupOwnerTransferred = "owner_transferred"
	GroupMuted            = "muted"   // UserIDs empty: the whole group
	GroupUnmuted          = "unmuted" // UserIDs empty: the whole group
	GroupDissolved        = "dissolved"
	GroupInvited          = "invited" // only in the invitee's timeline
)

// GroupEvent is the Event of an EntryGroup entry, in every member's timeline
// (and in the timelines of members it removes).
type GroupEvent struct {
	GroupID int64   `json:"group_id"`
	Type    string  `json:"type"`               // created, updated, members_added, members_removed, left, role_changed, owner_transferred, muted, unmuted, dissolved
	ActorID int64   `json:"actor_id"`           // who did it
	UserIDs []int64 `json:"user_ids,omitempty"` // whom it concerns
	Role    string  `json:"role,omitempty"`     // role_changed: the new role
	// Until is when a member's mute ends (muted with user_ids).
	Until *time.Time `json:"until,omitempty"`
}

// Group is a chat group as its members see it.
type Group struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	AvatarURL    string    `json:"avatar_url"`
	Announcement string    `json:"announcement"`
	OwnerID      int64     `json:"owner_id"`
	MutedAll     bool      `json:"muted_all"`
	MemberCount  int       `json:"member_count"`
	MyRole       string    `json:"my_role"` // the caller's role
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// NewGroup is what a creator submits; the creator becomes the owner.
type NewGroup struct {
	Name         string
	AvatarURL    string
	Announcement string
	MemberIDs    []int64 // besides the creator; duplicates and the creator are ignored
}

// GroupUpdate changes a group's settings; nil fields stay as they are.
type GroupUpdate struct {
	Name         *string
	AvatarURL    *string // "" clears
	Announcement *string // "" clears
}

// GroupMember is one member of a group.
type GroupMember struct {
	UserID     int64      `json:"user_id"`
	Username   string     `json:"username"`
	Role       string     `json:"role"`
	MutedUntil *time.Time `json:"muted_until,omitempty"` // set while muted
	JoinedAt   time.Time  `json:"joined_at"`
}

// GroupPage is a page of the caller's groups, by group id ascending.
type GroupPage struct {
	Groups     []Group `json:"groups"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// GroupMemberPage is a page of a group's members, by user id ascending.
type GroupMemberPage struct {
	Members    []GroupMember `json:"members"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// Invitation is a pending invitation of InviteeID into a group.
type Invitation struct {
	ID        int64     `json:"id"`
	GroupID   int64     `json:"group_id"`
	GroupName string    `json:"group_name"`
	InviterID int64     `json:"inviter_id"`
	InviteeID int64     `json:"invitee_id"`
	CreatedAt time.Time `json:"created_at"`
}

// InvitationPage is a page of the caller's invitations, oldest first.
type InvitationPage struct {
	Invitations []Invitation `json:"invitations"`
	NextCursor  string       `json:"next_cursor,omitempty"`
}

// GroupService manages groups, their members and invitations. Every change
// appends an EntryGroup entry (GroupEvent) to the timeline of every member,
// and of the members it removes.
//
// Errors: a group the caller is not a member of (or a dissolved one) is
// ENOTFOUND; a member without the permission is EFORBIDDEN; adding users who
// blocked the actor is EFORBIDDEN (naming none of them); going over
// MaxGroupMembers is ECONFLICT.
type GroupService interface {
	CreateGroup(ctx context.Context, userID int64, g NewGroup) (*Group, error)
	Groups(ctx context.Context, userID int64, cursor string, limit int) (*GroupPage, error)
	Group(ctx context.Context, userID, groupID int64) (*Group, error)
	// UpdateGroup: owner and admins.
	UpdateGroup(ctx context.Context, userID, groupID int64, u GroupUpdate) (*Group, error)
	// DissolveGroup: owner only. Afterwards the group is ENOTFOUND for everyone.
	DissolveGroup(ctx context.Context, userID, groupID int64) error
	Members(ctx context.Context, userID, groupID int64, cursor string, limit int) (*GroupMemberPage, error)
	// AddMembers: owner and admins; users already members are ignored.
	AddMembers(ctx context.Context, userID, groupID int64, userIDs []int64) (*Group, error)
	// RemoveMember: the owner removes admins and members, an admin members;
	// removing yourself is LeaveGroup.
	RemoveMember(ctx context.Context, userID, groupID, memberID int64) error
	// LeaveGroup: any member but the owner (ECONFLICT: transfer or dissolve first).
	LeaveGroup(ctx context.Context, userID, groupID int64) error
	// SetRole: owner only; role is RoleAdmin or RoleMember.
	SetRole(ctx context.Context, userID, groupID, memberID int64, role string) error
	// TransferOwnership: owner only, to another member; the old owner becomes an admin.
	TransferOwnership(ctx context.Context, userID, groupID, newOwnerID int64) error
	// MuteMember silences a member until the given time (nil: unmute). The
	// owner mutes anyone but themselves, an admin plain members.
	MuteMember(ctx context.Context, userID, groupID, memberID int64, until *time.Time) (*GroupMember, error)
	// MuteGroup: owner and admins; while muted only they may speak.
	MuteGroup(ctx context.Context, userID, groupID int64, muted bool) (*Group, error)
	// Invite: any member. ECONFLICT if the invitee is a member or invited already, or the group is full.
	Invite(ctx context.Context, userID, groupID, inviteeID int64) (*Invitation, error)
	Invitations(ctx context.Context, userID int64, cursor string, limit int) (*InvitationPage, error)
	// AcceptInvitation joins the group (ENOTFOUND if the invitation is not the caller's).
	AcceptInvitation(ctx context.Context, userID, invitationID int64) (*Group, error)
	// DeleteInvitation declines (the invitee) or cancels (the inviter, the
	// group's owner or admins) an invitation.
	DeleteInvitation(ctx context.Context, userID, invitationID int64) error
}

// Validate checks a new group's settings against the limits. The member
// list is checked by the store, which knows who may be added.
func (g NewGroup) Validate() error {
	return validateGroupFields(&g.Name, &g.AvatarURL, &g.Announcement)
}

// Validate checks the settings u changes against the limits.
func (u GroupUpdate) Validate() error {
	return validateGroupFields(u.Name, u.AvatarURL, u.Announcement)
}

func validateGroupFields(name, avatar, announcement *string) error {
	if name != nil && (!Printable(*name, MaxGroupNameLen) || strings.TrimSpace(*name) == "") {
		return Errorf(EINVALID, "name must be 1 to %d printable characters", MaxGroupNameLen)
	}
	if avatar != nil {
		if err := validateAvatarURL(*avatar); err != nil {
			return err
		}
	}
	if announcement != nil && (!utf8.ValidString(*announcement) || utf8.RuneCountInString(*announcement) > MaxAnnouncementLen) {
		return Errorf(EINVALID, "announcement must be valid UTF-8 of at most %d characters", MaxAnnouncementLen)
	}
	return nil
}
