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
	for _, good := range []string{
		`{"k":"push","t":[{"u":1}],"b":{},"pid":"p"}`,
		`{"k":"broadcast","b":{},"pl":["ios"]}`,
		`{"k":"signal","t":[{"u":1}],"f":2,"s":"typing"}`,
		`{"k":"kick","t":[{"u":1,"d":"dev"}],"c":12}`,
	} {
		if _, err := Decode([]byte(good)); err != nil {
			t.Fatalf("refused %s: %v", good, err)
		}
	}
	for _, bad := range []string{`{`, `{"k":"x","t":[{"u":1}],"b":{}}`, `{"k":"message","t":[],"b":{}}`, `{"k":"message","t":[{"u":1}]}`,
		`{"k":"broadcast"}`, `{"k":"signal","t":[{"u":1}],"s":"typing"}`, `{"k":"kick"}`, `{"k":"push","b":{}}`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}
