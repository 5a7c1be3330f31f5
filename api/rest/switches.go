package rest

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/switches"
)

// Live switches under /v1/admin/switches (admin API-key scope): list, get,
// set with a reason, history. The rules live in shared/switches; this file
// only maps them to HTTP.

// switchError maps the switches' errors to the domain's codes.
func switchError(err error) error {
	switch {
	case errors.Is(err, switches.ErrUnknown):
		return tether.Errorf(tether.ENOTFOUND, "no such switch")
	case errors.Is(err, switches.ErrInvalid):
		return tether.Errorf(tether.EINVALID, "%s", strings.TrimPrefix(err.Error(), switches.ErrInvalid.Error()+": "))
	}
	return err
}

func (s *Server) switchesOn(c *gin.Context) bool {
	if s.switches == nil {
		writeProblem(c, tether.EUNAVAILABLE, "Switches are not configured on this server.")
		return false
	}
	return true
}

// listSwitches handles GET /v1/admin/switches.
func (s *Server) listSwitches(c *gin.Context) {
	if !s.switchesOn(c) {
		return
	}
	reg := s.switches.Registry
	list := reg.List()
	out := make([]switches.View, 0, len(list))
	for _, cur := range list {
		out = append(out, switches.ViewOf(cur))
	}
	c.JSON(http.StatusOK, gin.H{"version": reg.Version(), "switches": out})
}

// getSwitch handles GET /v1/admin/switches/{name}.
func (s *Server) getSwitch(c *gin.Context) {
	if !s.switchesOn(c) {
		return
	}
	cur, ok := s.switches.Registry.Get(c.Param("name"))
	if !ok {
		fail(c, switchError(switches.ErrUnknown))
		return
	}
	c.JSON(http.StatusOK, switches.ViewOf(cur))
}

type setSwitchRequest struct {
	Value  string          `json:"value"`
	Rules  *switches.Rules `json:"rules"`
	Reason string          `json:"reason"`
}

// setSwitch handles PUT /v1/admin/switches/{name}: the value and rules
// replace the current ones; the reason is required and kept in the history.
func (s *Server) setSwitch(c *gin.Context) {
	if !s.switchesOn(c) {
		return
	}
	var req setSwitchRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	k, _ := keyCallerOf(c)
	rec, err := s.switches.Set(c.Request.Context(), switches.Change{
		Name: c.Param("name"), Value: req.Value, Rules: req.Rules, Reason: req.Reason, Actor: "key:" + k.KeyID,
	})
	if err != nil {
		fail(c, switchError(err))
		return
	}
	cur, _ := s.switches.Registry.Get(rec.Name)
	c.JSON(http.StatusOK, gin.H{"switch": switches.ViewOf(cur), "change": rec})
}

// switchHistory handles GET /v1/admin/switches/{name}/history.
func (s *Server) switchHistory(c *gin.Context) {
	if !s.switchesOn(c) {
		return
	}
	name := c.Param("name")
	if _, ok := s.switches.Registry.Def(name); !ok {
		fail(c, switchError(switches.ErrUnknown))
		return
	}
	limit := tether.DefaultPageSize
	if q := c.Query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > tether.MaxPageSize {
			fail(c, tether.Errorf(tether.EINVALID, "query parameter \"limit\" must be an integer from 1 to %d", tether.MaxPageSize))
			return
		}
		limit = n
	}
	recs, err := s.switches.Store.History(c.Request.Context(), name, limit)
	if err != nil {
		fail(c, err)
		return
	}
	if recs == nil {
		recs = []switches.Record{}
	}
	c.JSON(http.StatusOK, gin.H{"changes": recs})
}
