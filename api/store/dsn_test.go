package store

import (
	"strings"
	"testing"
)

func TestMySQLDSN_InterpolatesUnlessTheDSNSaysOtherwise(t *testing.T) {
	got, err := mysqlDSN("root@tcp(127.0.0.1:3306)/tether")
	if err != nil || !strings.Contains(got, "interpolateParams=true") || !strings.Contains(got, "parseTime=true") {
		t.Fatalf("default: %q %v", got, err)
	}
	got, err = mysqlDSN("root@tcp(127.0.0.1:3306)/tether?interpolateParams=false")
	if err != nil || strings.Contains(got, "interpolateParams=true") {
		t.Fatalf("explicit false: %q %v", got, err)
	}
}

func TestMySQLDSN_BoundsTheDialUnlessTheDSNSaysOtherwise(t *testing.T) {
	got, err := mysqlDSN("root@tcp(127.0.0.1:3306)/tether")
	if err != nil || !strings.Contains(got, "timeout=5s") {
		t.Fatalf("default: %q %v", got, err)
	}
	got, err = mysqlDSN("root@tcp(127.0.0.1:3306)/tether?timeout=1m")
	if err != nil || !strings.Contains(got, "timeout=1m") {
		t.Fatalf("explicit: %q %v", got, err)
	}
}
