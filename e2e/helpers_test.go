package e2e_test

import (
	"strconv"
	"testing"
)

func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }

func parseInt(t *testing.T, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not an integer: %q", s)
	}
	return v
}
