package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// TestServeBinary runs the real binary as a user would: serve on a fresh
// data directory, a UserSig from `parley usersig`, an account imported over
// HTTP, the startup log's curl command, then SIGTERM and a clean exit.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := parleytest.Binary(t)
	dir := filepath.Join(t.TempDir(), "data")
	p := parleytest.StartProc(t, bin, "serve", "--addr", "127.0.0.1:0", "--data", dir)

	app, err := server.LoadApp(dir)
	if err != nil {
		t.Fatalf("serve did not keep its app: %v", err)
	}
	// The curl command is printed right after the listening line.
	m := p.WaitOutput(t, regexp.MustCompile(`curl -s -X POST '([^']+)' -d '([^']+)'`), 10*time.Second)
	out := p.Output()
	for _, want := range []string{
		"generated a new app",
		"msg=listening",
		"sdkappid=" + strconv.FormatUint(app.SDKAppID, 10),
		"data=" + dir,
		"callbacks=\"off",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("startup log lacks %q:\n%s", want, out)
		}
	}

	sig, err := exec.Command(bin, "usersig", "--user", app.Admin, "--data", dir, "--expire", "600").Output()
	if err != nil {
		t.Fatalf("parley usersig: %v", err)
	}
	q := url.Values{
		"sdkappid":    {strconv.FormatUint(app.SDKAppID, 10)},
		"identifier":  {app.Admin},
		"usersig":     {strings.TrimSpace(string(sig))},
		"random":      {"4294967295"},
		"contenttype": {"json"},
	}
	importAccount(t, p.URL+"/v4/im_open_login_svc/account_import?"+q.Encode(), `{"UserID":"alice"}`)

	// The curl command in the startup log works as printed.
	importAccount(t, m[1], m[2])

	p.Signal(t, syscall.SIGTERM)
	if err := p.Wait(t, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Output())
	}
	if out := p.Output(); !strings.Contains(out, "msg=stopped") {
		t.Errorf("no clean-stop line in the log:\n%s", out)
	}
}

func importAccount(t *testing.T, u, body string) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var answer struct {
		ActionStatus string
		ErrorCode    int
	}
	if err := json.Unmarshal(b, &answer); err != nil || answer.ActionStatus != "OK" || answer.ErrorCode != 0 {
		t.Fatalf("account_import %s: %s", body, b)
	}
}
