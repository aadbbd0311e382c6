package server_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley/server"
)

func TestLoadOrCreateAppGeneratesOnceAndKeepsIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")

	app, created, err := server.LoadOrCreateApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("first call: created = false, want true")
	}
	id := strconv.FormatUint(app.SDKAppID, 10)
	if len(id) != 10 || !strings.HasPrefix(id, "14000") {
		t.Errorf("SDKAppID = %s, want 10 digits starting 14000", id)
	}
	if key, err := hex.DecodeString(app.SecretKey); err != nil || len(app.SecretKey) != 64 || len(key) != 32 {
		t.Errorf("SecretKey = %q, want 64 hex characters", app.SecretKey)
	}
	if app.Admin != "administrator" {
		t.Errorf("Admin = %q, want administrator", app.Admin)
	}
	checkGeneratedSecret(t, app.WebhookSecret)
	fi, err := os.Stat(filepath.Join(dir, server.AppFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("app.json mode = %v, want 0600", got)
	}

	again, created, err := server.LoadOrCreateApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second call: created = true, want false")
	}
	if again != app {
		t.Errorf("second call: got %+v, want %+v", again, app)
	}
	loaded, err := server.LoadApp(dir)
	if err != nil || loaded != app {
		t.Errorf("LoadApp = %+v, %v; want %+v", loaded, err, app)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only app.json (no temp files left)", len(entries))
	}
}

func TestLoadOrCreateAppConcurrentFirstStartsAgree(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	apps := make([]server.App, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { apps[i], _, errs[i] = server.LoadOrCreateApp(dir) })
	}
	wg.Wait()
	stored, err := server.LoadApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if apps[i] != stored {
			t.Errorf("caller %d got %+v, but app.json holds %+v", i, apps[i], stored)
		}
	}
}

func TestLoadAppRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"not json", "{", "unexpected end"},
		{"no key", `{"SDKAppID":1400000001}`, "must both be set"},
		{"no id", `{"SecretKey":"abc"}`, "must both be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, server.AppFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := server.LoadOrCreateApp(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadAppDefaultsAdmin(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, server.AppFile), []byte(`{"SDKAppID":1400000001,"SecretKey":"k"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	app, err := server.LoadApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := app, (server.App{SDKAppID: 1400000001, SecretKey: "k", Admin: "administrator"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
