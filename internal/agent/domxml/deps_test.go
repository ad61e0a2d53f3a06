package domxml

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the package pure, in the spirit of Tailscale's deptest:
// rendering XML must never be able to talk to libvirt, the network or a
// database, not even through a dependency. Test files are exempt (go list
// without -test reports the non-test build only).
func TestDeps(t *testing.T) {
	// Forbidden anywhere in the non-test dependency graph; a path also
	// forbids everything below it.
	banned := []string{
		"net", "os/exec", "database/sql", "net/http",
		"github.com/digitalocean/go-libvirt", "google.golang.org/grpc",
	}
	for _, dep := range goList(t, "-deps", "-f", "{{.ImportPath}}") {
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("non-test code depends on %s (banned: %s)", dep, b)
				break
			}
		}
	}
	// No direct file or process access either; fmt and friends may use os.
	for _, imp := range goList(t, "-f", `{{join .Imports "\n"}}`) {
		switch imp {
		case "os", "io/ioutil", "syscall":
			t.Errorf("non-test code imports %s directly", imp)
		}
	}
}

// goList runs `go list` on this package. go test puts its own toolchain
// first on PATH, so "go" is the go that is running the test.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(gobin, append([]string{"list"}, append(args, ".")...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("go list %v: %v", args, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		t.Fatalf("go list %v printed nothing", args)
	}
	return lines
}
