//go:build !unix

package bench

import "math"

// raiseNoFile has nothing to raise where there is no RLIMIT_NOFILE: the
// limit is taken as unbounded, and the system refuses what it must.
func raiseNoFile() (noFile, error) {
	return noFile{soft: math.MaxInt32, hard: math.MaxInt32}, nil
}
