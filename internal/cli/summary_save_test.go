package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestSummaryNotSavedAtTheCommandLine: a passing `run` that saves its
// result.json but not its summary.md (a directory with something in it is
// in its place) exits 1 as well, saying which file: both are the run's
// record at the command line.
func TestSummaryNotSavedAtTheCommandLine(t *testing.T) {
	testhost.RequireRoot(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	summaryPath := filepath.Join(out, "summary.md")
	if err := os.MkdirAll(filepath.Join(summaryPath, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	r := runBin(t, cmdEnv(t, "MVM_VERIFY_POLL_INTERVAL=50ms"), "run", "--provider", "local", "--suite", suite,
		"--local-state-dir", filepath.Join(dir, "state"), "--out", out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (summary.md could not be saved)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, thisHostLane().display("local")+": verified") {
		t.Errorf("the verdict is not printed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "result not saved") || !strings.Contains(r.stderr, "save "+summaryPath) {
		t.Errorf("stderr does not say %s could not be saved:\n%s", summaryPath, r.stderr)
	}
	if !strings.Contains(r.stderr, "exit status 1 although the leg is verified") {
		t.Errorf("stderr does not say why a verified leg exits 1:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "summary: ") {
		t.Errorf("stdout names a summary file that was not saved:\n%s", r.stdout)
	}
	if res := r.resultJSON(t); res["outcome"] != "verified" {
		t.Errorf("result.json outcome %v, want verified", res["outcome"])
	}
}
