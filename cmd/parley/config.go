package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/server"
)

// Configuration comes from four places, strongest first: command-line
// flags, PARLEY_<NAME> environment variables, a config file (--config or
// PARLEY_CONFIG), and the defaults. The config file has one setting a line:
//
//	# comment
//	name = value
//
// where name is a serve flag name without the dashes and value runs to the
// end of the line, trimmed; it may be double-quoted (Go syntax) to keep
// spaces or to write an empty value. Blank lines and lines starting with #
// are skipped. A name that is not a serve flag is an error naming the line.

// lookupEnv is os.LookupEnv, injected so tests can supply an environment.
type lookupEnv func(key string) (string, bool)

// envName is the environment variable of a flag: PARLEY_ and the name in
// upper case with dashes turned into underscores.
func envName(flagName string) string {
	return "PARLEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// fileSetting is one name = value line of a config file.
type fileSetting struct {
	line  int
	value string
}

// parseConfigFile reads a config file. Keys not in known are errors; name
// is used in error messages.
func parseConfigFile(r io.Reader, name string, known map[string]bool) (map[string]fileSetting, error) {
	out := make(map[string]fileSetting)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want name = value, got %q", name, n, line)
		}
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		if !known[key] {
			return nil, fmt.Errorf("%s:%d: unknown setting %q", name, n, key)
		}
		if prev, dup := out[key]; dup {
			return nil, fmt.Errorf("%s:%d: %q is already set on line %d", name, n, key, prev.line)
		}
		if strings.HasPrefix(value, `"`) {
			v, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: bad quoted value %s", name, n, key, value)
			}
			value = v
		}
		out[key] = fileSetting{line: n, value: value}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// configure parses args into fs and then fills every flag not given on the
// command line from its environment variable, else from the config file.
// Only flags named in shared are read from the environment and the file:
// they are the serve settings, which other subcommands share. The file's
// keys are checked against shared, so one file serves every subcommand.
// fs must have a "config" string flag.
func configure(fs *flag.FlagSet, args []string, env lookupEnv, shared map[string]bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err: err, printed: true}
	}
	if fs.NArg() > 0 {
		return usageError{err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	path := fs.Lookup("config").Value.String()
	if !given["config"] {
		path, _ = env(envName("config"))
	}
	var file map[string]fileSetting
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return usageError{err: fmt.Errorf("config file: %w", err)}
		}
		file, err = parseConfigFile(f, path, shared)
		f.Close()
		if err != nil {
			return usageError{err: err}
		}
	}

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || !shared[f.Name] {
			return
		}
		if v, ok := env(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
			return
		}
		if s, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, s.value); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, s.line, f.Name, err))
			}
		}
	})
	if len(errs) > 0 {
		return usageError{err: errors.Join(errs...)}
	}
	return nil
}

// commandsValue is --callback-commands: "all", "none", or a comma list.
// A nil list means all.
type commandsValue struct{ list []string }

func (v *commandsValue) String() string {
	switch {
	case v == nil || v.list == nil:
		return "all"
	case len(v.list) == 0:
		return "none"
	}
	return strings.Join(v.list, ",")
}

func (v *commandsValue) Set(s string) error {
	s = strings.TrimSpace(s)
	switch s {
	case "all":
		v.list = nil
		return nil
	case "", "none":
		v.list = []string{}
		return nil
	}
	list := []string{}
	for c := range strings.SplitSeq(s, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !slices.Contains(parley.Commands, c) {
			return fmt.Errorf("unknown callback command %q (known: %s)", c, strings.Join(parley.Commands, ", "))
		}
		if !slices.Contains(list, c) {
			list = append(list, c)
		}
	}
	v.list = list
	return nil
}

// scheduleValue is --retry-schedule: comma-separated durations; empty
// means no retries.
type scheduleValue struct{ list []time.Duration }

func (v *scheduleValue) String() string {
	if v == nil {
		return ""
	}
	parts := make([]string, len(v.list))
	for i, d := range v.list {
		parts[i] = shortDuration(d)
	}
	return strings.Join(parts, ",")
}

func (v *scheduleValue) Set(s string) error {
	list := []time.Duration{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return err
		}
		if d <= 0 {
			return fmt.Errorf("%s is not a positive duration", part)
		}
		list = append(list, d)
	}
	v.list = list
	return nil
}

// shortDuration writes 5m for 5m0s and 2h for 2h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// policyValue is --before-send-policy.
type policyValue struct{ s string }

func (v *policyValue) String() string {
	if v == nil || v.s == "" {
		return server.PolicyDeliver
	}
	return v.s
}

func (v *policyValue) Set(s string) error {
	switch s {
	case server.PolicyDeliver, server.PolicyReject:
		v.s = s
		return nil
	}
	return fmt.Errorf("want %s or %s", server.PolicyDeliver, server.PolicyReject)
}

// urlValue is --callback-url: empty (callbacks off) or an http(s) URL.
type urlValue struct{ s string }

func (v *urlValue) String() string {
	if v == nil {
		return ""
	}
	return v.s
}

func (v *urlValue) Set(s string) error {
	if s != "" {
		u, err := url.Parse(s)
		if err != nil {
			return err
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("%q: the scheme must be http or https", s)
		}
		if u.Host == "" {
			return fmt.Errorf("%q has no host", s)
		}
	}
	v.s = s
	return nil
}

// readWordList reads a restricted-words file: one word or phrase a line,
// trimmed; blank lines and lines starting with # are skipped.
func readWordList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var words []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.TrimSpace(sc.Text())
		if w == "" || strings.HasPrefix(w, "#") {
			continue
		}
		words = append(words, w)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return words, nil
}

// printFlags writes one entry per flag of fs: the flag, its meaning, its
// environment variable when shared, and its default (defaults overrides
// the flag's own default text).
func printFlags(w io.Writer, fs *flag.FlagSet, shared map[string]bool, defaults map[string]string) {
	fs.VisitAll(func(f *flag.Flag) {
		placeholder, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if placeholder != "" {
			fmt.Fprintf(w, " %s", placeholder)
		}
		fmt.Fprintf(w, "\n        %s\n", usage)
		var notes []string
		if shared[f.Name] || f.Name == "config" {
			notes = append(notes, "env "+envName(f.Name))
		}
		def, ok := defaults[f.Name]
		if !ok {
			def = f.DefValue
		}
		if def != "" {
			notes = append(notes, "default "+def)
		}
		if len(notes) > 0 {
			fmt.Fprintf(w, "        (%s)\n", strings.Join(notes, "; "))
		}
	})
}
