package parleytest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary builds the parley command into t.TempDir() and returns the path of
// the executable. The Go build cache makes repeated builds cheap.
func Binary(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "parley")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/parley-im/parley/cmd/parley")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("parleytest: go build: %v\n%s", err, out)
	}
	return bin
}

// readyLine matches the startup log line of `parley serve` that says it is
// accepting connections, and captures the base URL it logs.
var readyLine = regexp.MustCompile(`msg=listening .*\burl=(\S+)`)

// Proc is a `parley serve` child process started by StartProc.
type Proc struct {
	Cmd *exec.Cmd
	// URL is the base URL the process logged once it was listening.
	URL string

	out  *procOutput
	done chan struct{} // closed when the process has exited
	err  error         // from Cmd.Wait, valid after done
}

// StartProc runs bin with args (e.g. "serve", "--addr", "127.0.0.1:0",
// ...), waits until it logs that it is listening (an info line: do not
// pass --log-level warn or error) and answers GET /healthz,
// and kills it when the test ends if it is still running. Output goes to an
// internal buffer that Output returns and that is logged if the test fails.
func StartProc(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	out := &procOutput{ready: make(chan string, 1), wrote: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("parleytest: start %s: %v", bin, err)
	}
	p := &Proc{Cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("parleytest: output of %v:\n%s", args, out.String())
		}
	})

	deadline := time.After(30 * time.Second)
	select {
	case p.URL = <-out.ready:
	case <-p.done:
		t.Fatalf("parleytest: %s exited before listening: %v\n%s", bin, p.err, out.String())
	case <-deadline:
		t.Fatalf("parleytest: %s did not log that it listens within 30s\n%s", bin, out.String())
	}
	waitHealthy(t, p.URL, 30*time.Second)
	return p
}

func waitHealthy(t testing.TB, base string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("parleytest: %s/healthz not OK within %v (last error: %v)", base, timeout, err)
		}
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("parleytest: signal %v: %v", sig, err)
	}
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGKILL)
	p.Wait(t, 30*time.Second)
}

// Wait waits for the process to exit and returns its Cmd.Wait error (nil
// for exit status 0); it fails the test if the process is still running
// after timeout.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("parleytest: process still running after %v\n%s", timeout, p.out.String())
		return errors.New("unreachable")
	}
}

// Output is everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// WaitOutput waits until the process's output matches re and returns the
// match and its submatches; it fails the test if that has not happened
// within timeout or the process exited without it.
func (p *Proc) WaitOutput(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.out.mu.Lock()
		m := re.FindStringSubmatch(p.out.buf.String())
		wrote := p.out.wrote
		p.out.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-wrote:
		case <-p.done:
			if m := re.FindStringSubmatch(p.out.String()); m != nil {
				return m
			}
			t.Fatalf("parleytest: process exited (%v) without printing %v\n%s", p.err, re, p.out.String())
		case <-deadline.C:
			t.Fatalf("parleytest: no %v in the output within %v\n%s", re, timeout, p.out.String())
		}
	}
}

// procOutput collects a child's output and reports the first ready line.
type procOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	scanned int // bytes of buf already searched for the ready line
	ready   chan string
	seen    bool
	wrote   chan struct{} // closed and replaced on every write
}

func (o *procOutput) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(b)
	close(o.wrote)
	o.wrote = make(chan struct{})
	for !o.seen {
		rest := o.buf.Bytes()[o.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i]
		o.scanned += i + 1
		if m := readyLine.FindSubmatch(line); m != nil {
			o.seen = true
			o.ready <- string(m[1])
		}
	}
	return len(b), nil
}

func (o *procOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
