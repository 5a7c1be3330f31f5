package job

import "testing"

func TestJobExpired_OnlyAfterItsExpiry(t *testing.T) {
	cases := []struct {
		exp, now int64
		want     bool
	}{
		{0, 1 << 50, false}, // no expiry: never
		{1000, 999, false},
		{1000, 1000, false}, // the expiry instant itself still counts as live
		{1000, 1001, true},
	}
	for _, c := range cases {
		if got := (Job{ExpiresMS: c.exp}).Expired(c.now); got != c.want {
			t.Errorf("ExpiresMS %d at %d: Expired = %v, want %v", c.exp, c.now, got, c.want)
		}
	}
	b, _ := Encode(Job{ID: "x", Kind: KindBroadcast, Body: []byte(`{}`), ExpiresMS: 42})
	j, err := Decode(b)
	if err != nil || j.ExpiresMS != 42 {
		t.Fatalf("ExpiresMS does not survive encoding: %v %+v", err, j)
	}
}
