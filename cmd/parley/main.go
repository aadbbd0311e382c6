// Command parley is the parley chat server and its admin tools:
//
//	parley serve      run the server (see parley serve --help)
//	parley usersig    print a UserSig for a user of the app
//	parley bench      measure REST and webhook throughput, WebSocket delivery latency, memory per connection
//	parley webhooks   webhook tools: ls, show, replay, recover, trigger
//	parley listen     stream webhooks from a running parley to a local URL
//	parley version    print the version
//
// This is the only package that reads flags, the environment and config
// files, prints, or exits; everything else takes Options and returns errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// usageError is a mistake in the configuration: exit status 2. printed
// means the flag package has already reported it.
type usageError struct {
	err     error
	printed bool
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

const usage = `parley is a self-hosted chat backend, wire-compatible with Tencent Cloud
Chat's server REST API and webhooks.

Usage:

  parley serve [flags]          run the server
  parley usersig --user USERID  print a UserSig for USERID
  parley bench [flags]          measure throughput, webhook lag, WebSocket latency and memory
  parley webhooks ls [flags]    list webhook events (show ID, replay ID, recover --since T)
  parley webhooks trigger CMD   send a sample CMD webhook to the callback URL
  parley listen [flags]         print webhooks as they happen, forwarded to a local URL
  parley version                print the version
  parley help [COMMAND]         show help for a command

Run "parley COMMAND --help" for a command's flags.
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, rest, env, stderr)
	case "usersig":
		err = runUsersig(rest, env, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "webhooks":
		err = runWebhooks(ctx, rest, env, stdout, stderr)
	case "listen":
		err = runListen(ctx, rest, env, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version())
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return run(ctx, []string{rest[0], "--help"}, env, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "parley: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case isUsage(err):
		var u usageError
		if errors.As(err, &u) && !u.printed {
			fmt.Fprintf(stderr, "parley %s: %v\n", cmd, err)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "parley %s: %v\n", cmd, err)
		return 1
	}
}

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// version reports the module version and VCS revision the binary was built
// from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "parley (unknown version)"
	}
	v := "parley " + info.Main.Version
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev + modified
	}
	return v + " " + info.GoVersion
}
