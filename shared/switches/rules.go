package switches

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"strings"
)

// Subject is who a switch is evaluated for: a request or a session. Zero
// fields are unknown (an old client sends no app version, a node-level
// decision has no user). A push API request has no user but a caller: the
// id of its API key.
type Subject struct {
	UserID     int64
	Platform   string
	AppVersion string
	Node       string
	APIKey     string // the calling API key's id (k_..., "admin" for the bootstrap key)
}

// Rules are a switch's gray-release rules. Empty rules select everyone. They
// are evaluated in this order (the first that decides wins):
//
//  1. the switch's value is off (0): nobody;
//  2. DenyUsers holds the user, or DenyAPIKeys the caller's key: not selected;
//  3. AllowUsers holds the user, or AllowAPIKeys the caller's key: selected;
//  4. Nodes is set and the subject's node is not in it: not selected;
//  5. Platforms is set and the platform is not in it: not selected;
//  6. MinAppVersion / MaxAppVersion are set and the app version is outside
//     them, or unknown: not selected;
//  7. Percent is set (or the switch is a percent switch) and the subject's
//     bucket is not below it: not selected;
//  8. otherwise selected.
//
// The bucket is a stable hash of the switch name and the user id into
// [0, 10000) (for a subject with a key and no user, the key id's): raising
// a percentage only adds users or callers, so everyone in at 5% is still in
// at 20%; a different switch selects a different 5%.
type Rules struct {
	Percent       *float64 `json:"percent,omitempty"`
	Platforms     []string `json:"platforms,omitempty"`
	MinAppVersion string   `json:"min_app_version,omitempty"`
	MaxAppVersion string   `json:"max_app_version,omitempty"`
	AllowUsers    []int64  `json:"allow_users,omitempty"`
	DenyUsers     []int64  `json:"deny_users,omitempty"`
	Nodes         []string `json:"nodes,omitempty"`
	AllowAPIKeys  []string `json:"allow_api_keys,omitempty"`
	DenyAPIKeys   []string `json:"deny_api_keys,omitempty"`
}

// maxListed bounds each list of a rule: rules travel in every snapshot.
const maxListed = 10000

// Validate reports whether r can be stored.
func (r *Rules) Validate() error {
	if r == nil {
		return nil
	}
	if r.Percent != nil && (*r.Percent < 0 || *r.Percent > 100 || *r.Percent != *r.Percent) {
		return invalidf("rules.percent must be from 0 to 100")
	}
	for _, l := range []int{len(r.Platforms), len(r.AllowUsers), len(r.DenyUsers), len(r.Nodes), len(r.AllowAPIKeys), len(r.DenyAPIKeys)} {
		if l > maxListed {
			return invalidf("a rule lists at most %d entries", maxListed)
		}
	}
	for _, k := range append(r.AllowAPIKeys[:len(r.AllowAPIKeys):len(r.AllowAPIKeys)], r.DenyAPIKeys...) {
		if k == "" || len(k) > 64 {
			return invalidf("an API key id in a rule is 1 to 64 characters")
		}
	}
	for _, v := range []string{r.MinAppVersion, r.MaxAppVersion} {
		if v != "" {
			if _, ok := parseVersion(v); !ok {
				return invalidf("app version %q is not dotted numbers such as 2.14.1", v)
			}
		}
	}
	if r.MinAppVersion != "" && r.MaxAppVersion != "" && CompareVersions(r.MinAppVersion, r.MaxAppVersion) > 0 {
		return invalidf("min_app_version is above max_app_version")
	}
	return nil
}

// Empty reports whether r selects everyone.
func (r *Rules) Empty() bool {
	return r == nil || (r.Percent == nil && len(r.Platforms) == 0 && r.MinAppVersion == "" &&
		r.MaxAppVersion == "" && len(r.AllowUsers) == 0 && len(r.DenyUsers) == 0 && len(r.Nodes) == 0 &&
		len(r.AllowAPIKeys) == 0 && len(r.DenyAPIKeys) == 0)
}

// compiled is Rules prepared for evaluation on a hot path: sets instead of
// lists, the percentage in basis points, versions parsed.
type compiled struct {
	percent    int64 // basis points, -1 when not set
	platforms  map[string]struct{}
	minV, maxV []int
	allow      map[int64]struct{}
	deny       map[int64]struct{}
	nodes      map[string]struct{}
	allowKeys  map[string]struct{}
	denyKeys   map[string]struct{}
}

func compile(r *Rules) *compiled {
	if r.Empty() {
		return nil
	}
	c := &compiled{percent: -1}
	if r.Percent != nil {
		c.percent = int64(Percent(*r.Percent))
	}
	c.platforms = set(r.Platforms, strings.ToLower)
	c.nodes = set(r.Nodes, func(s string) string { return s })
	c.allow = set(r.AllowUsers, func(u int64) int64 { return u })
	c.deny = set(r.DenyUsers, func(u int64) int64 { return u })
	c.allowKeys = set(r.AllowAPIKeys, func(k string) string { return k })
	c.denyKeys = set(r.DenyAPIKeys, func(k string) string { return k })
	c.minV, _ = parseVersion(r.MinAppVersion)
	c.maxV, _ = parseVersion(r.MaxAppVersion)
	return c
}

func set[T any, K comparable](l []T, key func(T) K) map[K]struct{} {
	if len(l) == 0 {
		return nil
	}
	m := make(map[K]struct{}, len(l))
	for _, v := range l {
		m[key(v)] = struct{}{}
	}
	return m
}

// selects applies the rules (steps 2 to 7 of Rules) to s; percent is the
// switch's own percentage in basis points for a percent switch, -1 otherwise.
func (c *compiled) selects(name string, s Subject, percent int64) bool {
	if c != nil {
		if _, ok := c.deny[s.UserID]; ok {
			return false
		}
		if _, ok := c.denyKeys[s.APIKey]; ok && s.APIKey != "" {
			return false
		}
		if _, ok := c.allow[s.UserID]; ok {
			return true
		}
		if _, ok := c.allowKeys[s.APIKey]; ok && s.APIKey != "" {
			return true
		}
		if c.nodes != nil {
			if _, ok := c.nodes[s.Node]; !ok {
				return false
			}
		}
		if c.platforms != nil {
			if _, ok := c.platforms[strings.ToLower(s.Platform)]; !ok {
				return false
			}
		}
		if c.minV != nil || c.maxV != nil {
			v, ok := parseVersion(s.AppVersion)
			if !ok || (c.minV != nil && compareParsed(v, c.minV) < 0) || (c.maxV != nil && compareParsed(v, c.maxV) > 0) {
				return false
			}
		}
		if c.percent >= 0 && s.bucket(name) >= c.percent {
			return false
		}
	}
	if percent >= 0 && s.bucket(name) >= percent {
		return false
	}
	return true
}

// bucket is the subject's place for a percentage: its user's, or for a push
// API caller (a key and no user) its key's, so that a percentage of the
// push API's callers is a stable set of keys.
func (s Subject) bucket(name string) int64 {
	if s.UserID == 0 && s.APIKey != "" {
		return KeyBucket(name, s.APIKey)
	}
	return Bucket(name, s.UserID)
}

// Bucket is the user's stable place in [0, 10000) for the switch name: a
// percentage p selects the users whose bucket is below p*100.
func Bucket(name string, userID int64) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(userID))
	h.Write(b[:])
	return int64(mix(h.Sum64()) % 10000)
}

// mix spreads FNV's low bits, which mix poorly for inputs differing in their
// last bytes (a murmur3 finaliser), before the modulo.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// KeyBucket is Bucket for an API key id: the key's stable place in
// [0, 10000) for the switch name.
func KeyBucket(name, keyID string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write([]byte{1}) // not 0: a key id never shares a user's hash input
	h.Write([]byte(keyID))
	return int64(mix(h.Sum64()) % 10000)
}

// parseVersion reads the leading dotted numbers of an app version: "2.14.1",
// "v2.14", "2.14.1-beta" and "ios/2.14" (a name before a slash) all work.
func parseVersion(s string) ([]int, bool) {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	if i := strings.IndexAny(s, "-+ "); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 6 {
		return nil, false
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// CompareVersions compares two app versions numerically part by part (a
// missing part is 0, so 2.1 == 2.1.0); an unreadable version sorts first.
func CompareVersions(a, b string) int {
	va, _ := parseVersion(a)
	vb, _ := parseVersion(b)
	return compareParsed(va, vb)
}

func compareParsed(a, b []int) int {
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
