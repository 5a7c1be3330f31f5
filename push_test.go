package tether

import (
	"reflect"
	"strings"
	"testing"
)

// Idempotency keys compare normalized pushes: two spellings of the same
// push must normalize to the same value, and the TTL default follows the mode.
func TestPushRequestNormalize_SamePushSameForm(t *testing.T) {
	a, err := PushRequest{UserIDs: []int64{3, 1, 3}, Platforms: []string{"ios", "android", "ios"}, Payload: []byte(`{ "b":1, "a":"x" }`)}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	b, err := PushRequest{UserIDs: []int64{1, 3}, Platforms: []string{"android", "ios"}, Payload: []byte(`{"b":1,"a":"x"}`), TTLSeconds: DefaultTransientTTL}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same push, different forms:\n%+v\n%+v", a, b)
	}
	if a.TTLSeconds != DefaultTransientTTL {
		t.Errorf("transient TTL default %d", a.TTLSeconds)
	}
	p, err := PushRequest{UserIDs: []int64{1}, Payload: []byte(`{}`), Persist: true}.Normalize()
	if err != nil || p.TTLSeconds != DefaultPersistedTTL {
		t.Errorf("persisted TTL default: %+v %v", p, err)
	}
}

func TestPushRequestNormalize_RefusesWhatBreaksTheLimits(t *testing.T) {
	ok := PushRequest{UserIDs: []int64{1}, Payload: []byte(`{}`)}
	for name, mod := range map[string]func(*PushRequest){
		"no users":         func(r *PushRequest) { r.UserIDs = nil },
		"too many users":   func(r *PushRequest) { r.UserIDs = make([]int64, MaxPushTargets+1) },
		"user id 0":        func(r *PushRequest) { r.UserIDs = []int64{0, 2} },
		"unknown platform": func(r *PushRequest) { r.Platforms = []string{"palm"} },
		"payload array":    func(r *PushRequest) { r.Payload = []byte(`[1]`) },
		"ttl too long":     func(r *PushRequest) { r.TTLSeconds = MaxPushTTL + 1 },
		"ttl negative":     func(r *PushRequest) { r.TTLSeconds = -1 },
		"collapse key nul": func(r *PushRequest) { r.CollapseKey = "a\x00" },
		"idempotency long": func(r *PushRequest) { r.IdempotencyKey = strings.Repeat("k", MaxIdempotencyKeyLen+1) },
	} {
		r := ok
		mod(&r)
		if _, err := r.Normalize(); ErrorCode(err) != EINVALID {
			t.Errorf("%s: got %v, want invalid", name, err)
		}
	}
	if _, err := (PushRequest{UserIDs: []int64{1}, Payload: []byte(`{"a":"` + strings.Repeat("x", MaxPushPayload) + `"}`)}).Normalize(); ErrorCode(err) != ETOOLARGE {
		t.Errorf("payload over the limit: got %v, want too_large", err)
	}
}

func TestBroadcastRequestNormalize_DefaultsAndSorts(t *testing.T) {
	b, err := BroadcastRequest{Platforms: []string{"web", "ios", "web"}, Payload: []byte(` {"t":1} `)}.Normalize()
	if err != nil || !reflect.DeepEqual(b.Platforms, []string{"ios", "web"}) || string(b.Payload) != `{"t":1}` || b.TTLSeconds != DefaultTransientTTL {
		t.Fatalf("got %+v %v", b, err)
	}
	if _, err := (BroadcastRequest{Payload: []byte(`{}`), TTLSeconds: MaxPushTTL + 1}).Normalize(); ErrorCode(err) != EINVALID {
		t.Errorf("ttl over the limit: got %v", err)
	}
}
