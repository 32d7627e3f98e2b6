package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A relative local-state-dir is refused at load, with the other bad
// inputs, not alone once they are fixed (the provider's Check, run by
// config, has the rule New has). Nothing is created.
func TestLocalStateDirRefusedWithOtherBadInputs(t *testing.T) {
	dir := t.TempDir()
	suite := filepath.Join(dir, "suite.yml")
	if err := os.WriteFile(suite, []byte(quickSuite), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	r := runBin(t, cmdEnv(t, "TMPDIR="+dir), "run", "--provider", "local", "--suite", suite, "--out", out,
		"--local-state-dir", "relative/state", "--ready-timeout", "soon")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`input "local-state-dir": got "relative/state", expected an absolute path`,
		`input "ready-timeout": got "soon"`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("--out %s was created for a run refused at its input", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "relative")); err == nil {
		t.Errorf("the relative state directory was created")
	}
}
