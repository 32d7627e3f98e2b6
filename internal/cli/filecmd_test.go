package cli

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// filesIn is a ghaFiles writing into r's files, its errors collected.
func filesIn(r *providertest.Runner, errs *[]error) *ghaFiles {
	env := map[string]string{}
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return &ghaFiles{getenv: func(k string) string { return env[k] }, errOut: func(err error) { *errs = append(*errs, err) }}
}

// TestFileCommandValueCannotEndItsHeredoc: a value holding a line that is
// go-githubactions' fixed delimiter (an --out path may hold any line) is
// read back whole by the runner, and injects nothing after it.
func TestFileCommandValueCannotEndItsHeredoc(t *testing.T) {
	r := providertest.NewRunner(t, "")
	var errs []error
	f := filesIn(r, &errs)
	tricky := "/tmp/x\n_GitHubActionsFileCommandDelimeter_\nevil=1\nEOF\n"
	values := map[string]string{"out": tricky, "resources": `[{"id":"i-1"}]`, "empty": "", "lines": "a\n\nb\n"}
	for _, k := range []string{"out", "resources", "empty", "lines"} {
		f.saveState(k, values[k])
		f.setOutput(k, values[k])
	}
	if len(errs) > 0 {
		t.Fatalf("writing the file commands: %v", errs)
	}
	if got := r.State(t); !maps.Equal(got, values) {
		t.Errorf("state read back as the runner reads it: %q, want %q", got, values)
	}
	if got := r.Outputs(t); !maps.Equal(got, values) {
		t.Errorf("outputs read back as the runner reads them: %q, want %q", got, values)
	}
}

// TestFileCommandWriteFailureIsReported: a state file that cannot be
// written is an error naming the file command and the key, not a panic
// that takes the leg down.
func TestFileCommandWriteFailureIsReported(t *testing.T) {
	r := providertest.NewRunner(t, "")
	r.StateFile = filepath.Join(t.TempDir(), "no", "such", "dir", "state")
	var errs []error
	f := filesIn(r, &errs)
	f.saveState("identity", "{}")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "write GITHUB_STATE: identity: open "+r.StateFile) {
		t.Fatalf("errors %v, want one naming GITHUB_STATE, the key identity and %s", errs, r.StateFile)
	}
	if _, err := os.Stat(r.StateFile); err == nil {
		t.Errorf("%s was written", r.StateFile)
	}
}
