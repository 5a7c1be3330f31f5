package job

import "testing"

func TestDecode_RoundTripAndRejectsUnusable(t *testing.T) {
	in := Job{ID: "7", Kind: KindMessage, Targets: []Target{{UserID: 1, Version: 3}}, Body: []byte(`{"kind":"message"}`), EnqueuedMS: 5}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil || out.ID != "7" || out.Targets[0].Version != 3 || string(out.Body) != `{"kind":"message"}` {
		t.Fatalf("%+v %v", out, err)
	}
	for _, bad := range []string{`{`, `{"k":"x","t":[{"u":1}],"b":{}}`, `{"k":"message","t":[],"b":{}}`, `{"k":"message","t":[{"u":1}]}`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}
