package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MVM_VERIFY_CANCEL_BUDGET set to something that is no positive duration
// is refused as bad input — exit 2, the variable, its value and the form
// expected named — before anything is created: no --out, no state of the
// local provider, no sshd.
func TestBadCancelBudgetIsRefusedBeforeAnythingStarts(t *testing.T) {
	suite := writeSuite(t, quickSuite)
	for _, tc := range []struct{ cmd, value string }{
		{"run", "abc"},
		{"run", "-1s"},
		{"run", "0"},
		{"up", "30"},
	} {
		dir := t.TempDir()
		out, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
		r := runBin(t, cmdEnv(t, "MVM_VERIFY_CANCEL_BUDGET="+tc.value),
			tc.cmd, "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", state)
		if r.code != 2 {
			t.Errorf("%s with MVM_VERIFY_CANCEL_BUDGET=%q: exit status %d, want 2\nstdout:\n%s\nstderr:\n%s", tc.cmd, tc.value, r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"MVM_VERIFY_CANCEL_BUDGET", `"` + tc.value + `"`, "a positive duration like 30s"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s with MVM_VERIFY_CANCEL_BUDGET=%q: stderr does not say %q:\n%s", tc.cmd, tc.value, want, r.stderr)
			}
		}
		if strings.Contains(r.stdout, "==> ") {
			t.Errorf("%s with MVM_VERIFY_CANCEL_BUDGET=%q: a phase started:\n%s", tc.cmd, tc.value, r.stdout)
		}
		for _, p := range []string{out, state} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s with MVM_VERIFY_CANCEL_BUDGET=%q: %s exists (stat: %v); nothing may be created", tc.cmd, tc.value, p, err)
			}
		}
	}
}
