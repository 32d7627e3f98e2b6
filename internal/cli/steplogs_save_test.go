package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// readOnlyLogsScript runs its arguments with $1/logs a read-only tmpfs, in
// a mount namespace of its own: the earlier run's logs cannot be replaced.
const readOnlyLogsScript = `
out=$1
shift
mkdir -p "$out/logs"
mount -t tmpfs -o ro,size=64k tmpfs "$out/logs"
exec "$@"
`

// TestStepLogsNotSavedAtTheCommandLine: the step logs are the run's record
// as result.json and summary.md are (README: each is written whole or not
// at all, and one not written makes `run` exit 1 even when verified): a
// passing run whose logs cannot be written exits 1 and says so, while
// result.json and summary.md are saved.
func TestStepLogsNotSavedAtTheCommandLine(t *testing.T) {
	testhost.RequireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare not found: install util-linux (the test mounts a read-only tmpfs in a mount namespace of its own)")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: smoke\n    run: echo hello\n    column: Live cycle\n")
	r := runBinHow(t, launch{prefix: []string{"unshare", "-m", "--propagation", "private", "sh", "-c", readOnlyLogsScript, "sh", out}},
		cmdEnv(t, "MVM_VERIFY_POLL_INTERVAL=50ms"), "run", "--provider", "local", "--suite", suite,
		"--local-state-dir", filepath.Join(dir, "state"), "--out", out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the step logs could not be saved)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, thisHostLane().display("local")+": verified") {
		t.Errorf("the verdict is not printed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "result not saved") || !strings.Contains(r.stderr, "logs") {
		t.Errorf("stderr does not say the logs could not be saved:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "exit status 1 although the leg is verified") {
		t.Errorf("stderr does not say why a verified leg exits 1:\n%s", r.stderr)
	}
	if res := r.resultJSON(t); res["outcome"] != "verified" {
		t.Errorf("result.json outcome %v, want verified", res["outcome"])
	}
	if !strings.Contains(r.file(t, "summary.md"), "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") {
		t.Errorf("summary.md is not this run's")
	}
}
