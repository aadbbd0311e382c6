//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// raiseNoFile raises this process's soft limit on open files to the hard
// one and returns the limit. The Go runtime raises it at start too, but
// gives children the original soft limit back unless the program calls
// Setrlimit itself: calling it here is what lets a child server inherit
// the raised limit.
func raiseNoFile() (noFile, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return noFile{}, fmt.Errorf("bench: RLIMIT_NOFILE: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return noFile{}, fmt.Errorf("bench: raising RLIMIT_NOFILE to %d: %w", lim.Max, err)
	}
	return noFile{soft: uint64(lim.Cur), hard: uint64(lim.Max)}, nil
}
