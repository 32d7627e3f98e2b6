package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestActionUpRefusesAnOutWithAKeptHost: in the action, as at a terminal,
// an `up` into an --out that holds an earlier up's kept host is refused
// (exit 2, naming out) before anything is created, and the earlier state —
// the only record of that host, which `down` and the post step tear down
// from — is left as it was.
func TestActionUpRefusesAnOutWithAKeptHost(t *testing.T) {
	testhost.RequireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	hostJSON := filepath.Join(out, "host", "host.json")
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: noop\n    run: \"true\"\n")
	upEnv := func(stateDir string) []string {
		return cmdEnv(t, "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1", "MVM_VERIFY_POLL_INTERVAL=50ms",
			"GITHUB_OUTPUT="+emptyFile(t, "outputs"), "GITHUB_STATE="+emptyFile(t, "state"), "GITHUB_STEP_SUMMARY="+emptyFile(t, "summary"),
			"INPUT_MODE=up", "INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+out,
			"INPUT_LOCAL-STATE-DIR="+stateDir)
	}
	first := runBin(t, upEnv(filepath.Join(tmp, "state-1")))
	var kept []byte
	t.Cleanup(func() {
		now, _ := os.ReadFile(hostJSON)
		runBin(t, cmdEnv(t), "down", "--out", out)
		// Had the second up overwritten it, the first host is torn down
		// from its state put back in an --out of its own.
		if kept != nil && string(now) != string(kept) {
			again := filepath.Join(tmp, "out-first")
			os.MkdirAll(filepath.Join(again, "host"), 0o700)
			os.WriteFile(filepath.Join(again, "host", "host.json"), kept, 0o600)
			runBin(t, cmdEnv(t), "down", "--out", again)
		}
	})
	if first.code != 0 {
		t.Fatalf("first up: exit %d\nstdout:\n%s\nstderr:\n%s", first.code, first.stdout, first.stderr)
	}
	kept, err := os.ReadFile(hostJSON)
	if err != nil {
		t.Fatalf("the first up kept no state: %v", err)
	}

	second := runBin(t, upEnv(filepath.Join(tmp, "state-2")))
	if second.code != 2 || !strings.Contains(second.stdout+second.stderr, `"out"`) {
		t.Errorf("second up into the same out: exit %d, want 2 naming out\nstdout:\n%s\nstderr:\n%s", second.code, second.stdout, second.stderr)
	}
	if now, err := os.ReadFile(hostJSON); err != nil || string(now) != string(kept) {
		t.Errorf("the first up's %s changed under the second up (%v):\nbefore: %s\nafter:  %s", hostJSON, err, kept, now)
	}
	if _, err := os.Stat(filepath.Join(tmp, "state-2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused up started a host anyway: its local-state-dir exists (stat: %v)", err)
	}
}
