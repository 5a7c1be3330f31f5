package rest

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

type registerRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
	Platform string `json:"platform"`
	// AppVersion is optional: old clients send none.
	AppVersion string `json:"app_version"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// register handles POST /v1/accounts.
func (s *Server) register(c *gin.Context) {
	if err := s.throttle.Register(c.Request.Context(), clientAddr(c)); err != nil {
		fail(c, err)
		return
	}
	var req registerRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	u, err := s.auth.Register(c.Request.Context(), req.Username, req.Password)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, u)
}

// login handles POST /v1/sessions.
func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	// Counted before the password is checked, so parallel guesses are too.
	if err := s.throttle.Login(c.Request.Context(), req.Username, clientAddr(c)); err != nil {
		fail(c, err)
		return
	}
	t, err := s.auth.Login(c.Request.Context(), req.Username, req.Password, tether.Device{ID: req.DeviceID, Platform: req.Platform, AppVersion: req.AppVersion})
	if err != nil {
		fail(c, err)
		return
	}
	s.throttle.LoginSucceeded(c.Request.Context(), req.Username)
	c.JSON(http.StatusCreated, t)
}

// refresh handles POST /v1/sessions/refresh.
func (s *Server) refresh(c *gin.Context) {
	var req refreshRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	t, err := s.auth.Refresh(c.Request.Context(), req.RefreshToken)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

// me handles GET /v1/users/me.
func (s *Server) me(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	u, err := s.auth.User(c.Request.Context(), caller.UserID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

// user handles GET /v1/users/{id}.
func (s *Server) user(c *gin.Context) {
	id, err := parseUserID(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	u, err := s.auth.User(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

// userByName handles GET /v1/users/by-name/{username} for users and GET
// /v1/push/users/by-name/{username} for push API keys.
func (s *Server) userByName(c *gin.Context) {
	u, err := s.auth.UserByName(c.Request.Context(), c.Param("username"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}
