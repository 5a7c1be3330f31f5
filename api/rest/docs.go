package rest

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// docsFS holds the /docs page and the vendored RapiDoc bundle; docs/README.md
// says where the bundle came from and how to update it.
//
//go:embed docs/index.html docs/rapidoc-min.js.gz
var docsFS embed.FS

// DocsContentSecurityPolicy is sent with the /docs page: the browser may load
// scripts, styles, fonts, images and API calls from this origin only, so the
// page works offline and never reaches the internet at view time.
const DocsContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsCacheControl lets browsers keep the bundle for a while; an upgrade of
// the bundle shows up within the hour.
const docsCacheControl = "public, max-age=3600"

var (
	docsPage     = mustReadDocs("docs/index.html")
	docsBundleGz = mustReadDocs("docs/rapidoc-min.js.gz")
)

func mustReadDocs(name string) []byte {
	b, err := docsFS.ReadFile(name)
	if err != nil {
		// Unreachable: go:embed fails the build when a file is missing.
		panic("rest: embedded " + name + ": " + err.Error())
	}
	return b
}

// docs handles GET /docs: an HTML page rendering /openapi.yaml.
func (s *Server) docs(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", DocsContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	c.Data(http.StatusOK, "text/html; charset=utf-8", docsPage)
}

// docsSlash handles GET /docs/: the page's relative links (docs/rapidoc-min.js,
// openapi.yaml) would resolve under /docs/ and miss, so it redirects to
// /docs. The relative Location keeps a path prefix a proxy may add.
func (s *Server) docsSlash(c *gin.Context) {
	// Not c.Redirect: http.Redirect would make the Location absolute.
	c.Header("Location", "../docs")
	c.Status(http.StatusMovedPermanently)
}

// docsBundle handles GET /docs/rapidoc-min.js: the renderer's script, sent
// gzipped to clients that accept gzip and decompressed for the others.
func (s *Server) docsBundle(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Cache-Control", docsCacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	const contentType = "text/javascript; charset=utf-8"
	if acceptsGzip(c.GetHeader("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		c.Data(http.StatusOK, contentType, docsBundleGz)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(docsBundleGz))
	if err != nil {
		fail(c, err)
		return
	}
	defer zr.Close()
	c.Status(http.StatusOK)
	h.Set("Content-Type", contentType)
	// Headers are out once copying starts; a failure here can only cut the
	// body short, which the client sees as a truncated script.
	if _, err := io.Copy(c.Writer, zr); err != nil {
		_ = c.Error(err)
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (RFC
// 9110 section 12.5.3): listed, or covered by "*", with a q-value above 0.
func acceptsGzip(header string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if coding == "*" {
			star = q > 0
			continue
		}
		return q > 0
	}
	return star
}
