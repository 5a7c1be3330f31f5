package switches

import "time"

// View is a switch as operators see it, over REST (/v1/admin/switches) and
// on the ops page: one JSON shape, so the page and the API never disagree.
type View struct {
	Name        string     `json:"name"`
	Kind        Kind       `json:"kind"`
	Value       string     `json:"value"`
	Default     string     `json:"default"`
	Description string     `json:"description"`
	Scope       string     `json:"scope"`
	Rules       *Rules     `json:"rules,omitempty"`
	Set         bool       `json:"set"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"` // only when Set
	UpdatedBy   string     `json:"updated_by,omitempty"`
}

// ViewOf is c as operators see it.
func ViewOf(c Current) View {
	v := View{Name: c.Name, Kind: c.Kind, Value: c.Value, Default: Format(c.Kind, c.Default),
		Description: c.Description, Scope: c.Scope, Rules: c.Rules, Set: c.Set, UpdatedBy: c.UpdatedBy}
	if c.Set {
		t := c.UpdatedAt
		v.UpdatedAt = &t
	}
	return v
}
