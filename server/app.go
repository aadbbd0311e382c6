package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
)

// AppFile is the name of the file in the data directory that keeps the
// generated app, so a restart (and `parley usersig`) sees the same one.
const AppFile = "app.json"

// App is the Tencent-style application the server answers for: requests
// must carry its SDKAppID and a UserSig signed with its SecretKey by Admin.
// WebhookSecret is the Standard Webhooks secret ("whsec_...") that signs
// the webhooks sent to the app backend.
type App struct {
	SDKAppID      uint64 `json:"SDKAppID"`
	SecretKey     string `json:"SecretKey"`
	Admin         string `json:"Admin"`
	WebhookSecret string `json:"WebhookSecret"`
}

// Or returns a with each zero field taken from fallback: how overrides
// (flags, env) combine with the app kept in the data directory.
func (a App) Or(fallback App) App {
	if a.SDKAppID == 0 {
		a.SDKAppID = fallback.SDKAppID
	}
	if a.SecretKey == "" {
		a.SecretKey = fallback.SecretKey
	}
	if a.Admin == "" {
		a.Admin = fallback.Admin
	}
	if a.WebhookSecret == "" {
		a.WebhookSecret = fallback.WebhookSecret
	}
	return a
}

// Complete reports whether a needs nothing from a fallback.
func (a App) Complete() bool {
	return a.SDKAppID != 0 && a.SecretKey != "" && a.Admin != "" && a.WebhookSecret != ""
}

// LoadApp reads the app kept in dataDir. A missing file is an error that
// matches fs.ErrNotExist. WebhookSecret is empty in a file written before
// parley signed webhooks; LoadOrCreateApp adds it.
func LoadApp(dataDir string) (App, error) {
	path := filepath.Join(dataDir, AppFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return App{}, err
	}
	var app App
	if err := json.Unmarshal(b, &app); err != nil {
		return App{}, fmt.Errorf("server: %s: %w", path, err)
	}
	if app.Admin == "" {
		app.Admin = parley.DefaultAdminName
	}
	if app.SDKAppID == 0 || app.SecretKey == "" {
		return App{}, fmt.Errorf("server: %s: SDKAppID and SecretKey must both be set", path)
	}
	return app, nil
}

// LoadOrCreateApp returns the app kept in dataDir, generating and saving a
// new one on first start (created reports that). dataDir is created if
// missing. A file without a WebhookSecret gets one generated and written
// back, every other field kept as it was.
//
// The file is written to a temporary name and then hard-linked into place,
// so a reader never sees half a file and two processes starting on the same
// fresh directory agree on one app: the loser of the race loads the
// winner's.
func LoadOrCreateApp(dataDir string) (app App, created bool, err error) {
	app, err = LoadApp(dataDir)
	if err == nil && app.WebhookSecret == "" {
		app, err = addWebhookSecret(dataDir)
	}
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return app, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return App{}, false, fmt.Errorf("server: create data directory: %w", err)
	}
	app, err = newApp()
	if err != nil {
		return App{}, false, err
	}
	b, err := json.MarshalIndent(app, "", "  ")
	if err != nil {
		return App{}, false, err
	}
	b = append(b, '\n')

	tmpName, err := writeTemp(dataDir, b)
	if err != nil {
		return App{}, false, err
	}
	defer os.Remove(tmpName)

	path := filepath.Join(dataDir, AppFile)
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			app, err := LoadApp(dataDir)
			return app, false, err
		}
		// Some filesystems have no hard links; rename is still atomic,
		// only the race between two first starts is lost.
		if err := os.Rename(tmpName, path); err != nil {
			return App{}, false, fmt.Errorf("server: write %s: %w", AppFile, err)
		}
	}
	syncDir(dataDir)
	return app, true, nil
}

// addWebhookSecret upgrades an app.json written before parley signed
// webhooks: it adds a generated WebhookSecret and replaces the file
// atomically. The file is rewritten from its own JSON object rather than
// from App, so fields this version does not know survive.
//
// Two processes upgrading the same file at the same moment could each
// write a secret; both read the file back after their rename, so they
// agree unless one reads before the other renames. The file always holds
// one whole secret, the one every later start uses.
func addWebhookSecret(dataDir string) (App, error) {
	path := filepath.Join(dataDir, AppFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return App{}, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return App{}, fmt.Errorf("server: %s: %w", path, err)
	}
	secret, err := delivery.NewSecret()
	if err != nil {
		return App{}, fmt.Errorf("server: %w", err)
	}
	fields["WebhookSecret"], err = json.Marshal(secret)
	if err != nil {
		return App{}, err
	}
	if b, err = json.MarshalIndent(fields, "", "  "); err != nil {
		return App{}, err
	}
	tmpName, err := writeTemp(dataDir, append(b, '\n'))
	if err != nil {
		return App{}, err
	}
	defer os.Remove(tmpName)
	if err := os.Rename(tmpName, path); err != nil {
		return App{}, fmt.Errorf("server: write %s: %w", AppFile, err)
	}
	syncDir(dataDir)
	return LoadApp(dataDir)
}

// writeTemp writes b, synced and private, to a new temporary file in dir
// and returns its name.
func writeTemp(dir string, b []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, "."+AppFile+".*")
	if err != nil {
		return "", fmt.Errorf("server: write %s: %w", AppFile, err)
	}
	if err := writeAndSync(tmp, b); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("server: write %s: %w", AppFile, err)
	}
	return tmp.Name(), nil
}

func newApp() (App, error) {
	// Tencent SDKAppIDs are ten digits starting 1400; ours start 14000 so
	// they are recognisably parley's yet pass clients that check the shape.
	n, err := rand.Int(rand.Reader, big.NewInt(100000))
	if err != nil {
		return App{}, fmt.Errorf("server: generate SDKAppID: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return App{}, fmt.Errorf("server: generate secret key: %w", err)
	}
	webhookSecret, err := delivery.NewSecret()
	if err != nil {
		return App{}, fmt.Errorf("server: %w", err)
	}
	return App{
		SDKAppID:      1400000000 + n.Uint64(),
		SecretKey:     hex.EncodeToString(key),
		Admin:         parley.DefaultAdminName,
		WebhookSecret: webhookSecret,
	}, nil
}

func writeAndSync(f *os.File, b []byte) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes the new directory entry durable. It is best effort: some
// platforms cannot fsync a directory, and the file itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
