package providertest

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages pkg imports, itself included, as `go list -deps`.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestTestSupportOnly: the shipped binary links neither this package nor
// the fake-cloud kit; they are for tests.
func TestTestSupportOnly(t *testing.T) {
	all := deps(t, Module)
	if len(all) == 0 || !contains(all, Module+"/providers") {
		t.Fatalf("go list -deps %s names no providers package: %v", Module, all)
	}
	for _, p := range []string{Module + "/providers/providertest", Module + "/providers/fakecloud"} {
		if contains(all, p) {
			t.Errorf("the mvm-verify binary imports %s, which is test support", p)
		}
	}
}

// TestRunsTheBinaryNotTheCycle: DESIGN §3's arrows hold here too — this
// package runs the built binary as a subprocess and imports neither the
// cycle, the CLI nor the reporting. Nor the probe: what the whole cycle's
// Live cycle cell must read is decided by the package's own KVM check
// (KVMUsable), not by the code that decides the cell.
func TestRunsTheBinaryNotTheCycle(t *testing.T) {
	all := deps(t, Module+"/providers/providertest")
	if !contains(all, Module+"/providers/fakecloud") {
		t.Fatalf("go list -deps of providertest lacks fakecloud: %v", all)
	}
	for _, p := range []string{"internal/verify", "internal/cli", "internal/ghreport", "internal/matrix", "internal/config", "internal/probe"} {
		if contains(all, Module+"/"+p) {
			t.Errorf("providertest imports %s", p)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
