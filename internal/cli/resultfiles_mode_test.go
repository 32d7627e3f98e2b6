package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// The result files are readable by every user (0644), not the 0600 of the
// temporary file they are written through: the Docker action runs as root,
// and the workflow's later steps (upload-artifact, a cat of summary.md) run
// as the runner's user, who could not read them otherwise.
func TestResultFilesReadableByOthers(t *testing.T) {
	out := t.TempDir()
	res := &verify.Result{Provider: "local", Display: "Local", Outcome: verify.Verified,
		Steps:     []verify.StepResult{{Name: "smoke", Output: "ok\n"}, {Name: "seccomp probe", Output: "test result: ok\n"}},
		Collected: []verify.Log{{Name: "cloud-init", Text: "done\n"}}}
	summaryPath, resultPath, err := writeResultFiles(out, res)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeStepLogs(out, res); err != nil {
		t.Fatal(err)
	}
	logs, err := filepath.Glob(filepath.Join(out, "logs", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 3 {
		t.Fatalf("logs %v, want the two steps' and the collected one", logs)
	}
	for _, path := range append([]string{summaryPath, resultPath}, logs...) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o644 {
			t.Errorf("%s has mode %s, want -rw-r--r--", path, fi.Mode())
		}
	}
}
