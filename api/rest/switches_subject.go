package rest

import (
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/switches"
)

// defaultSwitches answers for a server built without switches: every
// switch at its default.
var defaultSwitches = switches.NewRegistry(switches.Catalogue)

// switchOn reports whether the live switch name applies to the caller of a
// user route: its user, and the platform and app version its token names.
func (s *Server) switchOn(name string, caller tether.Caller) bool {
	reg := defaultSwitches
	if s.switches != nil {
		reg = s.switches.Registry
	}
	return reg.Enabled(name, subjectOf(caller))
}

// subjectOf is the switch subject of a user route's caller: its user, and
// the platform and app version its token names.
func subjectOf(caller tether.Caller) switches.Subject {
	return switches.Subject{UserID: caller.UserID, Platform: caller.Platform, AppVersion: caller.AppVersion}
}
