package tether

import (
	"strings"
	"testing"
)

func TestDeviceNormalize_DefaultsAndLowercasesThePlatform(t *testing.T) {
	d, err := Device{ID: "phone-1", Platform: "IOS"}.Normalize()
	if err != nil || d.Platform != "ios" {
		t.Fatalf("got %+v %v", d, err)
	}
	if d, err := (Device{ID: "x"}).Normalize(); err != nil || d.Platform != "other" {
		t.Fatalf("empty platform: got %+v %v", d, err)
	}
	for _, bad := range []Device{{ID: ""}, {ID: "a\nb"}, {ID: strings.Repeat("d", MaxDeviceIDLen+1)}, {ID: "x", Platform: "palm"}} {
		if _, err := bad.Normalize(); ErrorCode(err) != EINVALID {
			t.Errorf("%+v: got %v, want invalid", bad, err)
		}
	}
}
