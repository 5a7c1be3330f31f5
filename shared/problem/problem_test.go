package problem_test

import (
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/problem"
)

func TestStatus_MapsEveryCodeToItsStatus(t *testing.T) {
	for code, want := range map[string]int{
		tether.EINVALID:              400,
		tether.EUNAUTHORIZED:         401,
		tether.EFORBIDDEN:            403,
		tether.ENOTFOUND:             404,
		problem.CodeMethodNotAllowed: 405,
		tether.ECONFLICT:             409,
		tether.ETOOLARGE:             413,
		tether.ERATELIMITED:          429,
		tether.EINTERNAL:             500,
		tether.EUNAVAILABLE:          503,
		tether.EOVERLOADED:           503,
		tether.EDEGRADED:             503,
		"no_such_code":               500,
	} {
		if got := problem.Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
}

// The client reads a bare status back as the code the server meant by it:
// a 429 is rate limited, not unavailable. A status several codes share
// (503: unavailable, overloaded, degraded) reads back as the first of them,
// the most general; every one of them means "retry after Retry-After".
func TestCode_ReadsEveryStatusBackAsTheServersCode(t *testing.T) {
	first := map[int]string{}
	for _, code := range problem.Codes() {
		if _, ok := first[problem.Status(code)]; !ok {
			first[problem.Status(code)] = code
		}
		if got := problem.Code(problem.Status(code)); got != first[problem.Status(code)] {
			t.Errorf("Code(Status(%q)) = %q", code, got)
		}
	}
	for status, want := range map[int]string{
		503: tether.EUNAVAILABLE,
		429: tether.ERATELIMITED,
		502: tether.EUNAVAILABLE,
		504: tether.EUNAVAILABLE,
		501: tether.EINTERNAL,
		418: tether.EINVALID,
	} {
		if got := problem.Code(status); got != want {
			t.Errorf("Code(%d) = %q, want %q", status, got, want)
		}
	}
}

// Every code of the domain has a row, so none can fall through to 500.
func TestCodes_CoverEveryDomainCode(t *testing.T) {
	codes := problem.Codes()
	for _, c := range []string{tether.ECONFLICT, tether.EINTERNAL, tether.EINVALID, tether.ENOTFOUND, tether.EUNAUTHORIZED,
		tether.EFORBIDDEN, tether.ETOOLARGE, tether.EUNAVAILABLE, tether.ERATELIMITED, tether.EOVERLOADED, tether.EDEGRADED} {
		found := false
		for _, x := range codes {
			found = found || x == c
		}
		if !found {
			t.Errorf("code %q has no row in the table", c)
		}
	}
}

func TestNew_UnknownCodeBecomesInternal(t *testing.T) {
	p := problem.New("made_up", "x")
	if p.Code != tether.EINTERNAL || p.Status != 500 || p.Type != problem.TypeBase+tether.EINTERNAL || p.Title != "Internal Server Error" {
		t.Fatalf("problem = %+v", p)
	}
}
