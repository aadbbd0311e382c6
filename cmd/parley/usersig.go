package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

// defaultSigExpire is 180 days, what Tencent's console tools default to.
const defaultSigExpire = 180 * 24 * 60 * 60

func newUsersigFlags(w io.Writer) (*flag.FlagSet, *usersigConfig) {
	c := &usersigConfig{}
	fs := flag.NewFlagSet("parley usersig", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.StringVar(&c.user, "user", "", "`USERID` to sign for (required)")
	fs.Int64Var(&c.expire, "expire", defaultSigExpire, "validity in `SECONDS`")
	fs.StringVar(&c.config, "config", "", "read settings from `FILE`, as parley serve does")
	fs.StringVar(&c.data, "data", server.DefaultDataDir, "data `DIR` whose app.json holds the app")
	fs.Uint64Var(&c.sdkappid, "sdkappid", 0, "`ID`: SDKAppID instead of app.json's")
	fs.StringVar(&c.secretKey, "secret-key", "", "`KEY` to sign with instead of app.json's")
	fs.Usage = func() {
		fmt.Fprint(w, `Usage: parley usersig --user USERID [--expire SECONDS] [--data DIR]

Prints a UserSig for USERID, signed with the app of the data directory (or
--sdkappid and --secret-key), and nothing else on stdout. --data,
--sdkappid and --secret-key are also read from the environment and the
config file, as by parley serve.

Flags:
`)
		printFlags(w, fs, serveSettings(), map[string]string{
			"expire":     "15552000 (180 days)",
			"sdkappid":   "from app.json",
			"secret-key": "from app.json",
		})
	}
	return fs, c
}

type usersigConfig struct {
	user      string
	expire    int64
	config    string
	data      string
	sdkappid  uint64
	secretKey string
}

func runUsersig(args []string, env lookupEnv, stdout, stderr io.Writer) error {
	fset, c := newUsersigFlags(stderr)
	if err := configure(fset, args, env, serveSettings()); err != nil {
		return err
	}
	if c.user == "" {
		fset.Usage()
		return usageError{err: errors.New("--user is required")}
	}
	if c.expire <= 0 {
		return usageError{err: fmt.Errorf("--expire %d: want a positive number of seconds", c.expire)}
	}
	app := server.App{SDKAppID: c.sdkappid, SecretKey: c.secretKey}
	if app.SDKAppID == 0 || app.SecretKey == "" {
		stored, err := server.LoadApp(c.data)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no app in %s: run `parley serve --data %s` once to generate it, or pass --sdkappid and --secret-key",
				filepath.Join(c.data, server.AppFile), c.data)
		}
		if err != nil {
			return err
		}
		if app.SDKAppID == 0 {
			app.SDKAppID = stored.SDKAppID
		}
		if app.SecretKey == "" {
			app.SecretKey = stored.SecretKey
		}
	}
	sig, err := usersig.Gen(usersig.GenParams{
		SDKAppID:   app.SDKAppID,
		Key:        app.SecretKey,
		Identifier: c.user,
		Expire:     c.expire,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, sig)
	return err
}
