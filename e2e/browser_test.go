//go:build linux

package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/parley-im/parley/internal/websocket"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// chromiumFlags run a headless browser that talks to nobody but the test:
// no sandbox (containers and CI runners rarely allow its namespaces), no
// GPU, no background traffic to Google, and DevTools on a free port.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--remote-debugging-port=0",
}

// TestBrowserDemo opens the demo page in two headless Chromium tabs, alice
// and bob, and has them chat through parley's client protocol: a live
// message with its unread count, an answer, a recall seen on both sides,
// a reconnect that catches up with what was missed, and the same in a
// group, without a JavaScript exception or an error logged.
func TestBrowserDemo(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("PARLEY_TEST_BROWSER") != "" {
			// CI installs chromium and sets this, so the test cannot
			// pass there by skipping.
			t.Fatalf("PARLEY_TEST_BROWSER is set but chromium is missing at %s: %v", chromiumPath, err)
		}
		t.Skipf("the demo page's browser test needs Debian's chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := parleytest.Start(t, server.Options{})
	checkServed(t, srv.URL()+"/demo/")
	b := startChromium(ctx, t)

	alice := b.open(ctx, t, "alice", demoURL(t, srv, "alice", "alice"))
	bob := b.open(ctx, t, "bob", demoURL(t, srv, "bob", "bob"))
	// Mallory's UserSig is alice's: refused, said so, and not retried.
	mallory := b.open(ctx, t, "mallory", demoURL(t, srv, "mallory", "alice"))
	alice.waitFor(ctx, "status", jsStatus, "online")
	bob.waitFor(ctx, "status", jsStatus, "online")
	mallory.waitFor(ctx, "refused login", `[
		document.getElementById('status').dataset.state,
		document.getElementById('error').dataset.code,
		document.getElementById('login').hidden,
	]`, []any{"offline", "70013", false})

	alice.do(ctx, `document.getElementById('peer').value = 'bob'; document.getElementById('open-peer').click()`)
	alice.waitFor(ctx, "pane title", `document.getElementById('pane-title').textContent`, "Chat with bob")
	alice.send(ctx, "hello bob")
	alice.waitFor(ctx, "messages after sending", jsMessages, []string{"alice: hello bob"})

	bob.waitFor(ctx, "unread count from alice", jsUnread("C2Calice"), "1")
	bob.do(ctx, `document.querySelector('[data-conv="C2Calice"] button').click()`)
	bob.waitFor(ctx, "messages after opening", jsMessages, []string{"alice: hello bob"})
	bob.waitFor(ctx, "unread count once read", jsUnread("C2Calice"), "")
	bob.send(ctx, "hi alice")
	bob.waitFor(ctx, "messages after answering", jsMessages, []string{"alice: hello bob", "bob: hi alice"})
	alice.waitFor(ctx, "messages after bob answered", jsMessages, []string{"alice: hello bob", "bob: hi alice"})

	alice.do(ctx, `document.querySelector('#messages [data-from="alice"] [data-testid=recall]').click()`)
	recalled := []string{"alice: message recalled", "bob: hi alice"}
	alice.waitFor(ctx, "messages after recalling", jsMessages, recalled)
	bob.waitFor(ctx, "messages after alice recalled", jsMessages, recalled)

	// Bob's connection drops and he cannot reconnect for a while; alice
	// writes meanwhile. Once back, his page catches up with sync.
	bob.do(ctx, `__test.held = true; __test.sockets.at(-1).close()`)
	bob.waitFor(ctx, "status while cut off", jsStatus+` !== 'online'`, true)
	alice.send(ctx, "are you there?")
	alice.send(ctx, "it's alice")
	all := []string{"alice: message recalled", "bob: hi alice", "alice: are you there?", "alice: it's alice"}
	alice.waitFor(ctx, "messages sent while bob was away", jsMessages, all)
	bob.do(ctx, `__test.release()`)
	bob.waitFor(ctx, "status after reconnecting", jsStatus, "online")
	bob.waitFor(ctx, "messages after reconnecting", jsMessages, all)
	bob.waitFor(ctx, "ops after reconnecting", `__test.ops.includes('sync')`, true)
	bob.waitFor(ctx, "unread count after reconnecting", jsUnread("C2Calice"), "")

	// A group: the same, through the group ops.
	mustOK(t, srv.Post(t, "group_open_http_svc", "create_group", map[string]any{
		"Owner_Account": "alice", "Type": "Public", "GroupId": "launch", "Name": "Launch",
		"MemberList": []map[string]any{{"Member_Account": "bob"}},
	}))
	alice.do(ctx, `document.getElementById('group').value = 'launch'; document.getElementById('open-group').click()`)
	alice.waitFor(ctx, "group pane title", `document.getElementById('pane-title').textContent`, "Group launch")
	alice.send(ctx, "hello group")
	alice.waitFor(ctx, "group messages after sending", jsMessages, []string{"alice: hello group"})
	bob.waitFor(ctx, "group unread count", jsUnread("GROUPlaunch"), "1")
	bob.do(ctx, `document.querySelector('[data-conv="GROUPlaunch"] button').click()`)
	bob.waitFor(ctx, "group messages after opening", jsMessages, []string{"alice: hello group"})
	bob.waitFor(ctx, "group unread count once read", jsUnread("GROUPlaunch"), "")
	bob.send(ctx, "hi all")
	alice.waitFor(ctx, "group messages after bob answered", jsMessages, []string{"alice: hello group", "bob: hi all"})
	alice.do(ctx, `document.querySelector('#messages [data-from="alice"] [data-testid=recall]').click()`)
	bob.waitFor(ctx, "group messages after alice recalled", jsMessages, []string{"alice: message recalled", "bob: hi all"})

	if ops, err := mallory.eval(ctx, `__test.ops`); err != nil || !jsonEqual(ops, []byte(`["login"]`)) {
		t.Errorf("mallory's page sent %s (%v), want one login and no retry", ops, err)
	}
	for _, p := range []*page{alice, bob} {
		p.waitFor(ctx, "error shown", `document.getElementById('error').hidden ? '' : document.getElementById('error').textContent`, "")
	}
	for _, p := range []*page{alice, bob, mallory} {
		if problems := b.cdp.problems(p.session); len(problems) > 0 {
			t.Errorf("%s: JavaScript exceptions or errors logged:\n%s", p.name, strings.Join(problems, "\n"))
		}
	}
	if t.Failed() {
		b.dumpLogs(t)
	}
}

// Expressions evaluated in the page. They read what a user sees, through
// the stable ids and data-testid attributes of demo/static.
const (
	jsStatus   = `document.getElementById('status').dataset.state`
	jsMessages = `[...document.querySelectorAll('#messages [data-testid=msg]')].map(li => li.dataset.from + ': ' + li.querySelector('[data-testid=msg-text]').textContent)`
)

// wsHook runs in each tab before the page's own script. It passes
// WebSockets through, keeps them so the test can close one, records the
// ops the page sends, and while held hands out sockets that never connect
// (a server out of reach, without the error a refused connection logs);
// release fails those, as a browser does when a connection attempt ends.
const wsHook = `(() => {
	const Real = WebSocket;
	const test = window.__test = { sockets: [], held: false, waiting: [], ops: [] };
	test.release = () => {
		test.held = false;
		test.ops = [];
		for (const w of test.waiting.splice(0)) {
			w.readyState = Real.CLOSED;
			if (w.onclose) w.onclose({ code: 1006 });
		}
	};
	function Hooked(url, protocols) {
		if (test.held) {
			const w = { readyState: Real.CONNECTING, send() {}, close() {} };
			test.waiting.push(w);
			return w;
		}
		const ws = new Real(url, protocols);
		const send = ws.send.bind(ws);
		ws.send = (data) => { test.ops.push(JSON.parse(data).op); send(data); };
		test.sockets.push(ws);
		return ws;
	}
	Object.assign(Hooked, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
	window.WebSocket = Hooked;
})()`

// jsUnread is the unread badge of a conversation: "" when hidden.
func jsUnread(conversationID string) string {
	return fmt.Sprintf(`(() => {
		const badge = document.querySelector('[data-conv=%q] [data-testid=unread]');
		return badge === null ? null : badge.hidden ? '' : badge.textContent;
	})()`, conversationID)
}

// checkServed fails the test at once, with a clear message, unless u is
// an HTML page.
func checkServed(t *testing.T, u string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s: %s, Content-Type %q: parley does not serve the demo page", u, resp.Status, ct)
	}
}

// demoURL is the demo page of srv, logging in on load as user with a
// UserSig made for signedFor (user, unless testing a refused login).
func demoURL(t *testing.T, srv *parleytest.Server, user, signedFor string) string {
	t.Helper()
	app := srv.App()
	sig, err := usersig.Gen(usersig.GenParams{SDKAppID: app.SDKAppID, Key: app.SecretKey, Identifier: signedFor, Expire: 3600})
	if err != nil {
		t.Fatal(err)
	}
	fragment := url.Values{
		"sdkappid":  {strconv.FormatUint(app.SDKAppID, 10)},
		"user":      {user},
		"sig":       {sig},
		"autologin": {"1"},
	}
	return srv.URL() + "/demo/#" + fragment.Encode()
}

// browser is a headless Chromium driven over the DevTools protocol.
type browser struct {
	cdp    *cdp
	stderr *tailBuffer
}

// startChromium starts the browser in its own process group, with a fresh
// profile and HOME, and connects to its DevTools endpoint. t.Cleanup kills
// it and reaps every process it left, zombies included.
func startChromium(ctx context.Context, t *testing.T) *browser {
	t.Helper()
	dir := t.TempDir()
	home, tmp := filepath.Join(dir, "home"), filepath.Join(dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	adoptOrphans(t)

	cmd := exec.Command(chromiumPath, append(chromiumFlags, "--user-data-dir="+filepath.Join(dir, "profile"), "about:blank")...)
	// Chromium writes crash reports and caches under HOME, and its
	// singleton socket under TMPDIR, which a killed browser leaves behind:
	// keep them all in the test's directory, which also names its crash
	// handler (see killChromium).
	cmd.Env = append(os.Environ(), "HOME="+home, "TMPDIR="+tmp,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A pipe of our own rather than StderrPipe: Chromium's helpers inherit
	// its stderr, and the reader below sees EOF only once all of them are
	// gone, which the cleanup checks.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatalf("start chromium: %v", err)
	}
	w.Close()

	stderr := &tailBuffer{max: 40}
	endpoint := make(chan string, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, ":ERROR:dbus/") { // containers have no D-Bus; Chromium says so at length
				stderr.add(line)
			}
			if u, ok := strings.CutPrefix(line, "DevTools listening on "); ok && !found {
				found = true
				endpoint <- strings.TrimSpace(u)
			}
		}
		if !found {
			close(endpoint)
		}
	}()
	t.Cleanup(func() { killChromium(t, cmd, dir, readerDone) })

	var wsURL string
	select {
	case u, ok := <-endpoint:
		if !ok {
			t.Fatalf("chromium ended without a DevTools endpoint; stderr:\n%s", stderr)
		}
		wsURL = u
	case <-ctx.Done():
		t.Fatalf("chromium printed no DevTools endpoint in time; stderr:\n%s", stderr)
	}
	c, err := dialCDP(ctx, wsURL)
	if err != nil {
		t.Fatalf("connect to chromium's DevTools: %v", err)
	}
	t.Cleanup(c.close)
	return &browser{cdp: c, stderr: stderr}
}

// Linux prctl options: a child subreaper adopts the orphans of its
// descendants. Chromium's crash handler double-forks away from Chromium,
// and when Chromium is killed its helpers lose their parent; without this
// they go to PID 1, which in some containers never reaps them.
const (
	prSetChildSubreaper = 36
	prGetChildSubreaper = 37
)

func adoptOrphans(t *testing.T) {
	t.Helper()
	var was int32
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetChildSubreaper, uintptr(unsafe.Pointer(&was)), 0); errno != 0 {
		t.Fatalf("prctl(PR_GET_CHILD_SUBREAPER): %v", errno)
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	t.Cleanup(func() {
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, uintptr(was), 0)
	})
}

// killChromium kills Chromium's process group and its crash handler (in a
// session of its own, found by the test directory in its command line),
// reaps them all, and fails the test if any process of theirs remains,
// even as a zombie.
func killChromium(t *testing.T, cmd *exec.Cmd, dir string, readerDone <-chan struct{}) {
	pgid := cmd.Process.Pid
	var strays []int
	for _, p := range processes(t) {
		if p.pgrp != pgid && p.ppid == os.Getpid() && strings.Contains(p.cmdline, dir) {
			strays = append(strays, p.pid)
		}
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		t.Errorf("kill chromium's process group %d: %v", pgid, err)
	}
	for _, pid := range strays {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = cmd.Wait() // killed: the error says so
	for _, pid := range strays {
		if _, err := syscall.Wait4(pid, nil, 0, nil); err != nil {
			t.Errorf("reap chromium's process %d: %v", pid, err)
		}
	}
	// The group's members are now the test's children: blocking waits end
	// as each dies of the SIGKILL, and ECHILD says none is left.
	for {
		if _, err := syscall.Wait4(-pgid, nil, 0, nil); err != nil {
			if !errors.Is(err, syscall.ECHILD) {
				t.Errorf("reap chromium's process group: %v", err)
			}
			break
		}
	}
	for _, p := range processes(t) {
		// A stray's PID could be reused by now, but not by a crash handler.
		stray := containsPID(strays, p.pid) && strings.Contains(p.comm, "crashpad")
		// A Chromium process missed above would end up here: a zombie
		// child of the test, as Chromium's processes all are by now.
		zombie := p.state == "Z" && p.ppid == os.Getpid() && strings.Contains(p.comm, "chrom")
		if p.pgrp == pgid || stray || zombie {
			t.Errorf("chromium's process %d (%s, state %s) is still there after the cleanup", p.pid, p.comm, p.state)
		}
	}
	select {
	case <-readerDone:
	case <-time.After(5 * time.Second):
		t.Errorf("chromium's stderr still open 5s after its processes were reaped")
	}
}

func containsPID(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}

type process struct {
	pid, ppid, pgrp int
	comm, state     string
	cmdline         string
}

// processes lists the machine's processes from /proc.
func processes(t *testing.T) []process {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	var out []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(stat[end+1:]))
		if len(f) < 3 {
			continue
		}
		p := process{pid: pid, comm: string(stat[open+1 : end]), state: f[0]}
		p.ppid, _ = strconv.Atoi(f[1])
		p.pgrp, _ = strconv.Atoi(f[2])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		p.cmdline = string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		out = append(out, p)
	}
	return out
}

func (b *browser) dumpLogs(t *testing.T) {
	t.Helper()
	t.Logf("browser console and log:\n%s", strings.Join(b.cdp.logs(), "\n"))
	t.Logf("chromium stderr (last lines):\n%s", b.stderr)
}

// page is one tab, attached with a flat DevTools session.
type page struct {
	t       *testing.T
	b       *browser
	name    string
	session string
}

// open creates a tab, enables the Runtime and Log domains (so that no
// exception of the page load is missed), then navigates it to u.
func (b *browser) open(ctx context.Context, t *testing.T, name, u string) *page {
	t.Helper()
	var target struct{ TargetID string }
	if err := b.cdp.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "newWindow": true}, &target); err != nil {
		t.Fatalf("%s: create a tab: %v", name, err)
	}
	var attached struct{ SessionID string }
	if err := b.cdp.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		t.Fatalf("%s: attach to the tab: %v", name, err)
	}
	p := &page{t: t, b: b, name: name, session: attached.SessionID}
	for _, domain := range []string{"Runtime.enable", "Log.enable", "Page.enable"} {
		if err := b.cdp.call(ctx, p.session, domain, nil, nil); err != nil {
			t.Fatalf("%s: %s: %v", name, domain, err)
		}
	}
	if err := b.cdp.call(ctx, p.session, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": wsHook}, nil); err != nil {
		t.Fatalf("%s: install the WebSocket hook: %v", name, err)
	}
	var nav struct{ ErrorText string }
	if err := b.cdp.call(ctx, p.session, "Page.navigate", map[string]any{"url": u}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("%s: navigate to the demo page: %v %s", name, err, nav.ErrorText)
	}
	return p
}

// eval evaluates a JavaScript expression in the page and returns its value
// as JSON.
func (p *page) eval(ctx context.Context, expr string) (json.RawMessage, error) {
	var res struct {
		Result struct {
			Type  string
			Value json.RawMessage
		}
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	if err := p.b.cdp.call(ctx, p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return nil, err
	}
	if e := res.ExceptionDetails; e != nil {
		return nil, fmt.Errorf("%s %s", e.Text, e.Exception.Description)
	}
	if res.Result.Type == "undefined" {
		return json.RawMessage("null"), nil
	}
	return res.Result.Value, nil
}

// do runs statements in the page: what a user's typing and clicking does.
func (p *page) do(ctx context.Context, js string) {
	p.t.Helper()
	if _, err := p.eval(ctx, "(() => { "+js+" })()"); err != nil {
		p.b.dumpLogs(p.t)
		p.t.Fatalf("%s: %s: %v", p.name, js, err)
	}
}

// send types text into the composer and clicks Send.
func (p *page) send(ctx context.Context, text string) {
	p.t.Helper()
	quoted, _ := json.Marshal(text)
	p.do(ctx, `document.getElementById('text').value = `+string(quoted)+`; document.getElementById('send').click()`)
}

// waitFor polls expr until its value equals want (compared as JSON), for
// up to 10 s.
func (p *page) waitFor(ctx context.Context, what, expr string, want any) {
	p.t.Helper()
	wantJSON, err := json.Marshal(want)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var got json.RawMessage
	var evalErr error
	for expired := false; !expired; {
		v, err := p.eval(ctx, expr)
		switch {
		case err == nil && jsonEqual(v, wantJSON):
			return
		case err == nil:
			got = v
		case ctx.Err() == nil: // not the deadline cutting the last one short
			evalErr = err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			expired = true
		}
	}
	gotText := string(got)
	if got == nil {
		gotText = "no value"
	}
	if evalErr != nil {
		gotText += fmt.Sprintf(" (error: %v)", evalErr)
	}
	shown, _ := p.eval(context.Background(), `document.getElementById('error').textContent`)
	p.b.dumpLogs(p.t)
	p.t.Fatalf("%s: %s: got %s, want %s; the page's error line: %s", p.name, what, gotText, wantJSON, shown)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// cdp is a minimal Chrome DevTools Protocol client: commands are matched
// to their replies by id; of the events, only exceptions and console and
// log output are kept.
type cdp struct {
	conn *websocket.Conn
	done chan struct{} // closed when the reader stops

	mu       sync.Mutex
	nextID   int64
	pending  map[int64]chan cdpMessage
	err      error
	problemL map[string][]string // by session: exceptions and errors logged
	logL     []string            // all console and log output, for failures
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func dialCDP(ctx context.Context, wsURL string) (*cdp, error) {
	// DevTools messages (a page's console output, say) can exceed the
	// default 64 KiB limit.
	conn, err := websocket.Dial(ctx, wsURL, websocket.DialOptions{ReadLimit: 16 << 20})
	if err != nil {
		return nil, err
	}
	c := &cdp{conn: conn, done: make(chan struct{}), pending: map[int64]chan cdpMessage{}, problemL: map[string][]string{}}
	go c.read()
	return c, nil
}

func (c *cdp) read() {
	defer close(c.done)
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(b, &m); err != nil {
			continue // not ours to judge; a reply we miss times out
		}
		c.mu.Lock()
		if m.ID != 0 {
			if ch, ok := c.pending[m.ID]; ok {
				delete(c.pending, m.ID)
				ch <- m
			}
		} else {
			c.event(m)
		}
		c.mu.Unlock()
	}
}

// event records the events the test looks at; c.mu is held.
func (c *cdp) event(m cdpMessage) {
	switch m.Method {
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text       string
				URL        string
				LineNumber int
				Exception  struct{ Description string }
			}
		}
		_ = json.Unmarshal(m.Params, &p)
		d := p.ExceptionDetails
		c.problemL[m.SessionID] = append(c.problemL[m.SessionID],
			fmt.Sprintf("%s %s (%s:%d)", d.Text, d.Exception.Description, d.URL, d.LineNumber+1))
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string
			Args []struct {
				Value       json.RawMessage
				Description string
			}
		}
		_ = json.Unmarshal(m.Params, &p)
		var parts []string
		for _, a := range p.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		c.logL = append(c.logL, fmt.Sprintf("[%s] console.%s: %s", m.SessionID, p.Type, strings.Join(parts, " ")))
	case "Log.entryAdded":
		var p struct {
			Entry struct{ Level, Source, Text, URL string }
		}
		_ = json.Unmarshal(m.Params, &p)
		e := p.Entry
		line := fmt.Sprintf("%s %s: %s %s", e.Level, e.Source, e.Text, e.URL)
		c.logL = append(c.logL, "["+m.SessionID+"] "+line)
		// The browser's own errors: a file that failed to load, a
		// WebSocket that failed to connect, a Content-Security-Policy
		// violation. A working page logs none.
		if e.Level == "error" {
			c.problemL[m.SessionID] = append(c.problemL[m.SessionID], line)
		}
	}
}

// call sends a command (to a page's session, or to the browser when
// session is "") and decodes its result into result, unless nil.
func (c *cdp) call(ctx context.Context, session, method string, params, result any) error {
	ch := make(chan cdpMessage, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	unregister := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}

	if params == nil {
		params = struct{}{}
	}
	msg, err := json.Marshal(struct {
		ID        int64  `json:"id"`
		Method    string `json:"method"`
		Params    any    `json:"params"`
		SessionID string `json:"sessionId,omitempty"`
	}{id, method, params, session})
	if err != nil {
		unregister()
		return err
	}
	if err := c.conn.WriteMessage(websocket.OpText, msg); err != nil {
		unregister()
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %d %s", method, m.Error.Code, m.Error.Message)
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(m.Result, result)
	case <-ctx.Done():
		unregister()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return fmt.Errorf("%s: %w", method, c.err)
	}
}

// problems are the exceptions thrown and the errors logged in a session.
func (c *cdp) problems(session string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.problemL[session]...)
}

func (c *cdp) logs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.logL...)
}

func (c *cdp) close() {
	_ = c.conn.Close(websocket.CloseNormal, "")
	<-c.done
}

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (b *tailBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	if len(b.lines) > b.max {
		b.lines = b.lines[len(b.lines)-b.max:]
	}
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}
