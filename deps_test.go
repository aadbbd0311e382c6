package parley_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/parley-im/parley"

// allowedImports is the import direction of HOUSE_STYLE.md: which of the
// module's packages (and which third-party modules) each package may import.
// A package missing from the table may import anything (cmd, server,
// parleytest, bench: the wiring and its tools).
var allowedImports = map[string][]string{
	"":          {},
	"usersig":   {},
	"webhook":   {},
	"chat":      {"", "internal/jsonx"},
	"hub":       {""},
	"delivery":  {"", "github.com/prometheus/client_golang"},
	"storetest": {""},
	"sqlite":    {"", "modernc.org/sqlite"},
	"postgres":  {"", "github.com/jackc/pgx/v5"},
	"restapi":   {"", "chat", "usersig"},

	"internal/websocket": {},
	"internal/jsonx":     {},
	"demo":               {},
	// ws shares restapi's request decoding and answers, so a client's
	// send_c2c is held to exactly the rules and codes of REST sendmsg.
	"ws":     {"", "chat", "hub", "usersig", "restapi", "internal/websocket", "internal/jsonx"},
	"client": {"", "internal/websocket"},
}

// TestImportDirection keeps the layers honest: the vocabulary and the
// engines stay free of transports and drivers.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		allowed, constrained := allowedImports[pkg]
		if !constrained {
			continue
		}
		for _, imp := range fields[1:] {
			if isStdlib(imp) || permitted(imp, allowed) {
				continue
			}
			t.Errorf("package %q imports %s; it may import only the standard library and %q", pkg, imp, allowed)
		}
	}
}

func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func permitted(imp string, allowed []string) bool {
	for _, a := range allowed {
		if strings.Contains(a, ".") { // a third-party module
			if imp == a || strings.HasPrefix(imp, a+"/") {
				return true
			}
			continue
		}
		if imp == module+"/"+a || (a == "" && imp == module) {
			return true
		}
	}
	return false
}
