package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
)

// A matrix-file config accepted at load, whose table is gone by the time
// the report rewrites it (someone edited it while GitHub was read), is
// bad input as it would have been at load: exit 2 naming the input, the
// file left as it now is, and the matrix read from GitHub still written.
// (A file that cannot be written is not: exit 1, see
// TestReportUnwritableMatrixFileFails.)
func TestReportMatrixFileRefusedAtRewriteIsBadInput(t *testing.T) {
	docs := filepath.Join(t.TempDir(), "matrix.md")
	before := "<!-- mvm-verify:start -->\n| AWS | ❌ | ❌ | ❌ | old |\n<!-- mvm-verify:end -->\n"
	const edited = "# Verification\n\nthe table was moved elsewhere\n"
	if err := os.WriteFile(docs, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	// The fake's first answer goes after config has read the file and
	// before the report rewrites it.
	var once sync.Once
	gh := fakeGitHub(t, fakegh.WithTrace(func(fakegh.Event) {
		once.Do(func() {
			if err := os.WriteFile(docs, []byte(edited), 0o644); err != nil {
				t.Error(err)
			}
		})
	}))
	gh.AddStatus(ghRepo, fakegh.Status{SHA: ghHead, State: "success", Context: "mvm-verify/aws",
		Description: "✅ Preflight · ✅ Live cycle · ✅ Seccomp probe · from the status"})
	out := filepath.Join(t.TempDir(), "out")
	summary := emptyFile(t, "summary")
	r := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, emptyFile(t, "outputs")),
		"INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_GITHUB-TOKEN="+ghToken,
		"INPUT_MODE=report", "INPUT_EXPECT=aws", "INPUT_OUT="+out, "INPUT_MATRIX-FILE="+docs)...))
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (bad input)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "bad input") || !strings.Contains(r.stderr, `input "matrix-file"`) || !strings.Contains(r.stderr, docs) {
		t.Errorf("stderr does not refuse the input by name and value:\n%s", r.stderr)
	}
	if got := readFile(t, docs); got != edited {
		t.Errorf("the matrix file was written:\n%s", got)
	}
	if !verifiedRow("AWS", "from the status").MatchString(readFile(t, filepath.Join(out, "matrix.md"))) {
		t.Errorf("matrix.md lacks the matrix read from GitHub:\n%s", readFile(t, filepath.Join(out, "matrix.md")))
	}
}
