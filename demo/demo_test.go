package demo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-im/parley/demo"
)

func setup(t *testing.T, cfg demo.Config) *httptest.Server {
	t.Helper()
	h, err := demo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path without following redirects.
func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestServesThePage(t *testing.T) {
	srv := setup(t, demo.Config{})
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/demo/", "text/html; charset=utf-8", `<script src="app.js" defer></script>`},
		{"/demo/app.js", "text/javascript; charset=utf-8", "'use strict';"},
		{"/demo/style.css", "text/css; charset=utf-8", "#messages"},
	} {
		resp, body := get(t, http.MethodGet, srv.URL+tc.path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", tc.path, resp.Status)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.contentType)
		}
		if !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self' ws: wss:") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.path, got)
		}
	}
}

func TestPathsAndMethods(t *testing.T) {
	srv := setup(t, demo.Config{})
	for _, tc := range []struct {
		method, path string
		status       int
		location     string
	}{
		{http.MethodGet, "/demo", http.StatusMovedPermanently, "/demo/"},
		{http.MethodHead, "/demo/", http.StatusOK, ""},
		{http.MethodGet, "/demo/missing.js", http.StatusNotFound, ""},
		{http.MethodGet, "/demo/static/app.js", http.StatusNotFound, ""},
		{http.MethodGet, "/app.js", http.StatusNotFound, ""},
		{http.MethodGet, "/demox/", http.StatusNotFound, ""},
		{http.MethodPost, "/demo/", http.StatusMethodNotAllowed, ""},
	} {
		resp, _ := get(t, tc.method, srv.URL+tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %s, want %d", tc.method, tc.path, resp.Status, tc.status)
		}
		if got := resp.Header.Get("Location"); got != tc.location {
			t.Errorf("%s %s: Location %q, want %q", tc.method, tc.path, got, tc.location)
		}
	}
}

func TestPrefix(t *testing.T) {
	srv := setup(t, demo.Config{Prefix: "/chat/demo/"})
	if resp, _ := get(t, http.MethodGet, srv.URL+"/chat/demo/app.js"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /chat/demo/app.js: %s", resp.Status)
	}
	if resp, _ := get(t, http.MethodGet, srv.URL+"/demo/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /demo/ under another prefix: %s, want 404", resp.Status)
	}
	for _, bad := range []string{"demo/", "/demo", "demo"} {
		if _, err := demo.New(demo.Config{Prefix: bad}); err == nil {
			t.Errorf("New(Prefix %q): no error", bad)
		}
	}
}

// TestElementsExist keeps the script and the page in step: every element
// app.js looks up by id is in index.html, once.
func TestElementsExist(t *testing.T) {
	srv := setup(t, demo.Config{})
	_, page := get(t, http.MethodGet, srv.URL+"/demo/")
	_, script := get(t, http.MethodGet, srv.URL+"/demo/app.js")
	ids := regexp.MustCompile(`\$\('([a-z-]+)'\)`).FindAllStringSubmatch(script, -1)
	if len(ids) < 20 {
		t.Fatalf("found %d element lookups in app.js; has the $('id') helper changed?", len(ids))
	}
	for _, m := range ids {
		if n := strings.Count(page, `id="`+m[1]+`"`); n != 1 {
			t.Errorf("app.js uses #%s; index.html has it %d times, want once", m[1], n)
		}
	}
}
