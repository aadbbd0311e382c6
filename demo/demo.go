// Package demo is the small chat page parley serves at /demo/: plain HTML,
// one JavaScript file and a stylesheet, embedded in the binary, that speak
// the client protocol (docs/protocol.md) to /v1/ws on the same host. Two
// browser tabs logged in as two users chat with each other; it shows the
// protocol working and is a starting point for a real client, not one.
//
// The page takes its login fields from the URL fragment, so a tab opens
// logged in: #sdkappid=ID&user=USERID&sig=USERSIG&autologin=1, and
// optionally &peer=USERID or &group=GROUPID to open that conversation,
// &platform=NAME (default Web) and &ws=URL to talk to a parley elsewhere.
// A fragment never leaves the browser, so the UserSig is not sent to the
// server with the page request or logged by a proxy.
package demo

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// DefaultPrefix is where parley mounts the page.
const DefaultPrefix = "/demo/"

// securityPolicy lets the page load only its own files and open
// WebSockets: 'self' covers the same-host /v1/ws in current browsers, and
// ws: wss: the &ws= fragment option. No inline script or style is needed.
const securityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Config configures a Handler.
type Config struct {
	// Prefix is the path the page lives under, starting and ending with a
	// slash. "" means DefaultPrefix ("/demo/").
	Prefix string
}

// Handler serves the page's files. It is safe for concurrent use.
type Handler struct {
	prefix string
	files  http.Handler
}

// New returns a Handler serving the page at cfg.Prefix.
func New(cfg Config) (*Handler, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || !strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("demo: prefix %q must start and end with a slash", cfg.Prefix)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return &Handler{prefix: cfg.Prefix, files: http.FileServerFS(files)}, nil
}

// ServeHTTP answers GET and HEAD requests for the prefix (the page) and
// the files under it; the prefix without its trailing slash is redirected
// to it, because the page names its files relative to its own URL. Any
// other path is 404, any other method 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == strings.TrimSuffix(h.prefix, "/") {
		http.Redirect(w, r, h.prefix, http.StatusMovedPermanently)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", securityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	// Embedded files carry no modification time, so there is nothing to
	// revalidate against: without this a browser could keep the page of an
	// older parley after an upgrade.
	hdr.Set("Cache-Control", "no-cache")
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = "/" + rest
	u.RawPath = ""
	r2.URL = &u
	h.files.ServeHTTP(w, r2)
}
