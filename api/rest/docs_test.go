package rest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func serveDocs(t *testing.T, path, acceptEncoding string) *httptest.ResponseRecorder {
	t.Helper()
	s, err := New(routingDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if acceptEncoding != "" {
		r.Header.Set("Accept-Encoding", acceptEncoding)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

// The page renders the spec with assets of this origin only, so it works
// without the internet, and its CSP stops the browser from leaving the origin.
func TestDocs_PageReferencesOnlySameOriginAssets(t *testing.T) {
	w := serveDocs(t, "/docs", "")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if csp := w.Header().Get("Content-Security-Policy"); csp != DocsContentSecurityPolicy {
		t.Fatalf("CSP %q", csp)
	}
	for _, directive := range strings.Split(DocsContentSecurityPolicy, ";") {
		for _, source := range strings.Fields(directive)[1:] {
			if source != "'self'" && source != "'none'" && source != "'unsafe-inline'" && source != "data:" {
				t.Errorf("CSP directive %q allows %s", strings.TrimSpace(directive), source)
			}
		}
	}
	page := w.Body.String()
	if strings.Contains(page, "://") || strings.Contains(page, "<style") {
		t.Fatalf("page names another origin or inlines styles:\n%s", page)
	}
	if strings.Contains(page, "<script>") {
		t.Fatalf("page has an inline script, which its CSP blocks:\n%s", page)
	}
	refs := regexp.MustCompile(`\b(?:src|href|spec-url)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 2 {
		t.Fatalf("expected the script and the spec to be referenced, got %v", refs)
	}
	base, _ := url.Parse("http://tether.test/docs")
	for _, m := range refs {
		ref, err := url.Parse(m[1])
		if err != nil || ref.Scheme != "" || ref.Host != "" || strings.HasPrefix(m[1], "//") {
			t.Errorf("reference %q is not same-origin", m[1])
			continue
		}
		// Every asset the page references is served.
		if got := serveDocs(t, base.ResolveReference(ref).Path, "gzip"); got.Code != http.StatusOK || got.Body.Len() == 0 {
			t.Errorf("asset %q: status %d, %d bytes", m[1], got.Code, got.Body.Len())
		}
	}
}

// Clients that accept gzip get the stored bundle as is; others get it
// decompressed, byte for byte the same script.
func TestDocsBundle_ServedGzippedOrPlainByAcceptEncoding(t *testing.T) {
	gz := serveDocs(t, "/docs/rapidoc-min.js", "br, gzip")
	if gz.Code != http.StatusOK || gz.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(gz.Header().Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip: %d %v", gz.Code, gz.Header())
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	plain := serveDocs(t, "/docs/rapidoc-min.js", "gzip;q=0")
	if plain.Code != http.StatusOK || plain.Header().Get("Content-Encoding") != "" {
		t.Fatalf("plain: %d %v", plain.Code, plain.Header())
	}
	if !bytes.Equal(plain.Body.Bytes(), unzipped) || !bytes.Contains(unzipped, []byte("rapi-doc")) {
		t.Fatalf("plain (%d bytes) and gunzipped (%d bytes) bundles differ or are not RapiDoc", plain.Body.Len(), len(unzipped))
	}
	for _, w := range []*httptest.ResponseRecorder{gz, plain} {
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("content type %q", ct)
		}
	}
}

func TestAcceptsGzip_HonoursQValuesAndWildcard(t *testing.T) {
	for header, want := range map[string]bool{
		"":                     false,
		"gzip":                 true,
		"GZIP":                 true,
		"x-gzip":               true,
		"deflate, gzip;q=0.5":  true,
		"gzip;q=0":             false,
		"gzip; q=0.0, br":      false,
		"br":                   false,
		"*":                    true,
		"*;q=0":                false,
		"*, gzip;q=0":          false,
		"identity, *;q=0.1":    true,
		"gzip;q=bogus":         true,
		"gzipx, deflate":       false,
		" gzip ; q = 1 , br  ": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// /docs/ (a trailing slash, as people type it) redirects to the page: served
// there, the page's relative links would miss. The relative Location
// resolves to /docs, and to /prefix/docs behind a proxy that adds a prefix.
func TestDocs_TrailingSlashRedirectsToThePage(t *testing.T) {
	w := serveDocs(t, "/docs/", "")
	loc := w.Header().Get("Location")
	if w.Code != http.StatusMovedPermanently || loc == "" {
		t.Fatalf("GET /docs/: %d, Location %q", w.Code, loc)
	}
	ref, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	for base, want := range map[string]string{"http://tether.test/docs/": "/docs", "http://tether.test/chat/docs/": "/chat/docs"} {
		b, _ := url.Parse(base)
		if got := b.ResolveReference(ref).Path; got != want {
			t.Errorf("Location %q from %s goes to %s, want %s", loc, base, got, want)
		}
	}
	if got := serveDocs(t, "/docs", ""); got.Code != http.StatusOK {
		t.Fatalf("the redirect's target: %d", got.Code)
	}
}
