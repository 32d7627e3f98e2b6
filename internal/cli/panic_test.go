package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A panic that reaches Run is a bug: the program says so and exits 1, and
// in Actions the step's status output is error and an error annotation
// says what happened, instead of the process dying with a Go trace and an
// empty status. The panic is a real one from the code's path: reading the
// event file's name, which run does before anything is created.
func TestPanicEndsWithStatusError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		actions bool
		left    string // on stderr
	}{
		{"action main step", []string{"mvm-verify"}, true, "the post step tears down what it recorded"},
		{"run at the command line", []string{"mvm-verify", "run", "--provider", "local"}, false, "`mvm-verify down` with the same --out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outputs := filepath.Join(t.TempDir(), "outputs")
			if err := os.WriteFile(outputs, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{"INPUT_PROVIDER": "local", "GITHUB_OUTPUT": outputs}
			if tc.actions {
				vars["GITHUB_ACTIONS"] = "true"
			}
			getenv := func(name string) string {
				if name == "GITHUB_EVENT_PATH" {
					panic("boom from getenv")
				}
				return vars[name]
			}
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), Env{Args: tc.args, Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
			if code != ExitFailed {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitFailed, stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), "internal error, a bug in mvm-verify") || !strings.Contains(stderr.String(), "boom from getenv") {
				t.Errorf("stderr does not say a bug ended the run:\n%s", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.left) {
				t.Errorf("stderr does not say how to tear down what may be left (%q):\n%s", tc.left, stderr.String())
			}
			data, err := os.ReadFile(outputs)
			if err != nil {
				t.Fatal(err)
			}
			if tc.actions {
				if !strings.Contains(string(data), "status<<") || !strings.Contains(string(data), "\nerror\n") {
					t.Errorf("GITHUB_OUTPUT does not set status error:\n%s", data)
				}
				if !strings.Contains(stdout.String(), "::error title=mvm-verify%3A internal error::") {
					t.Errorf("no error annotation:\n%s", stdout.String())
				}
			} else if len(data) > 0 {
				t.Errorf("outputs written outside Actions:\n%s", data)
			}
		})
	}
}
