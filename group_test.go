package tether

import "testing"

// The group rules the store enforces: who manages, who may act on whom.
func TestGroupRoles_OwnerOutranksAdminsAdminsOutrankMembers(t *testing.T) {
	roles := []string{RoleOwner, RoleAdmin, RoleMember}
	outranks := map[[2]string]bool{
		{RoleOwner, RoleAdmin}:  true,
		{RoleOwner, RoleMember}: true,
		{RoleAdmin, RoleMember}: true,
	}
	for _, a := range roles {
		for _, b := range roles {
			if got := Outranks(a, b); got != outranks[[2]string{a, b}] {
				t.Errorf("Outranks(%s, %s) = %v", a, b, got)
			}
		}
	}
	if !CanManageGroup(RoleOwner) || !CanManageGroup(RoleAdmin) || CanManageGroup(RoleMember) || CanManageGroup("") {
		t.Error("CanManageGroup: want the owner and admins only")
	}
	if AssignableRole(RoleOwner) || !AssignableRole(RoleAdmin) || !AssignableRole(RoleMember) || AssignableRole("boss") {
		t.Error("AssignableRole: want admin and member only")
	}
}
