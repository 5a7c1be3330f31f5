package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tetherim/tether"
)

// Presence returns whether each of userIDs (1 to tether.MaxPresenceUsers) is
// online and on which devices, in request order. Users who blocked the
// caller appear offline.
func (a *API) Presence(ctx context.Context, access string, userIDs []int64) ([]tether.Presence, error) {
	if len(userIDs) == 0 || len(userIDs) > tether.MaxPresenceUsers {
		return nil, errors.New("tether api: presence needs 1 to " + strconv.Itoa(tether.MaxPresenceUsers) + " user ids")
	}
	ids := make([]string, len(userIDs))
	for i, id := range userIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	var out struct {
		Users []tether.Presence `json:"users"`
	}
	if _, err := a.do(ctx, http.MethodGet, "/v1/presence?user_ids="+strings.Join(ids, ","), access, nil, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}
