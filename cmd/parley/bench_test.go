package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// lastJSON decodes the last line of out, where --json puts the result.
func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var obj map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &obj); err != nil {
		t.Fatalf("last line of stdout is not JSON: %v\n%s", err, out)
	}
	return obj
}

func TestBenchWS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", "--scenario", "ws", "--clients", "10", "--rate", "100", "--duration", "500ms",
		"--warmup", "0", "--senders", "4", "--data", t.TempDir(), "--json"}, envOf(nil), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	for _, want := range []string{"scenario ws, in-process server ws://127.0.0.1:", "10 clients, 4 senders", "asked 100/s", "latency        p50", "p90", "p99", "max"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, &stdout)
		}
	}
	obj := lastJSON(t, stdout.String())
	if obj["scenario"] != "ws" || obj["clients"] != 10.0 || obj["senders"] != 4.0 || obj["rate"] != 100.0 || obj["warmup_s"] != 0.0 {
		t.Errorf("JSON does not carry the flags: %v", obj)
	}
	if obj["scheduled"] != 50.0 || obj["sent"] != 50.0 || obj["received"] != 50.0 || obj["lost"] != 0.0 {
		t.Errorf("scheduled %v sent %v received %v lost %v, want 50, 50, 50, 0", obj["scheduled"], obj["sent"], obj["received"], obj["lost"])
	}
}

func TestBenchIdleAgainstURL(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the server to settle twice")
	}
	srv := parleytest.Start(t, server.Options{})
	app := srv.App()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", "--scenario", "ws-idle", "--conns", "20", "--url", srv.URL(),
		"--sdkappid", strconv.FormatUint(app.SDKAppID, 10), "--secret-key", app.SecretKey, "--admin", app.Admin,
		"--pid", strconv.Itoa(os.Getpid()), "--json"}, envOf(nil), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	for _, want := range []string{"scenario ws-idle, running server", "pid " + strconv.Itoa(os.Getpid()), "20 logged in", "per connection", "heap + stacks"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, &stdout)
		}
	}
	obj := lastJSON(t, stdout.String())
	if obj["scenario"] != "ws-idle" || obj["conns"] != 20.0 || obj["connected"] != 20.0 || obj["alive"] != 20.0 || obj["mode"] != "url" {
		t.Errorf("JSON: %v", obj)
	}
}

func TestBenchWSUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{[]string{"bench", "--scenario", "ws-idle", "--pid", "5"}, 2, "--pid needs --url"},
		{[]string{"bench", "--scenario", "ws", "--clients", "3"}, 1, "even"},
		{[]string{"bench", "--scenario", "ws", "--url", "http://127.0.0.1:1"}, 2, "--url needs the app"},
		{[]string{"bench", "--scenario", "ws-idle", "--url", "http://127.0.0.1:1", "--sdkappid", "1"}, 2, "--url needs the app"},
		{[]string{"bench", "--scenario", "ws-idle", "--conns", "2000000000"}, 1, "RLIMIT_NOFILE"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, envOf(nil), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\n%s", code, tt.code, &stderr)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", &stderr, tt.wantStderr)
			}
		})
	}
}

func TestBenchHelpNamesTheWSScenarios(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"bench", "--help"}, envOf(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	for _, want := range []string{"--scenario ws:", "--scenario ws-idle:", "-rate", "-conns", "-pid", "-senders", "RLIMIT_NOFILE"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, &stderr)
		}
	}
}
