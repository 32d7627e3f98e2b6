package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// fullDiskScript runs its arguments with $1 (out) a tmpfs filled to the
// last page, holding an earlier run's result.json and summary.md, in a
// mount namespace of its own; after, it lists what out holds into $2 and
// copies out's result.json and summary.md beside that list, as the tmpfs
// goes away with the namespace. The tmpfs is 0755, as run refuses an out
// other users may write (a tmpfs's default is 1777).
const fullDiskScript = `
out=$1 list=$2
shift 2
mount -t tmpfs -o size=128k,mode=0755 tmpfs "$out"
printf 'stale result' > "$out/result.json"
printf 'stale summary' > "$out/summary.md"
dd if=/dev/zero of="$out/fill" bs=4096 2>/dev/null && { echo "the tmpfs did not fill" >&2; exit 99; }
set +e
"$@"
rc=$?
ls -A "$out" > "$list"
for f in result.json summary.md; do
	if [ -e "$out/$f" ]; then cp "$out/$f" "$list.$f"; fi
done
exit $rc
`

// TestResultNotSavedOnFullDisk: the action's main step runs a passing leg
// whose --out is full. Writing result.json fails, and leaves neither a cut
// short result.json (a later down would read it as no result) nor the
// earlier run's; summary.md is this run's or none. The verdict is still
// the step's: status and row outputs, the job summary, exit 0. The failure
// is an error annotation naming the path.
func TestResultNotSavedOnFullDisk(t *testing.T) {
	testhost.RequireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare not found: install util-linux (the test fills a tmpfs in a mount namespace of its own)")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "list")
	outputs, summary := emptyFile(t, "outputs"), emptyFile(t, "summary")
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	inputs := runnerInputs(t, map[string]string{
		"provider": "local", "suite": suite, "out": out, "comment": "false",
		"local-state-dir": filepath.Join(dir, "state"), "timeout-minutes": "10",
	}, map[string]string{
		"${{ github.token }}":                                     "ghs_unused",
		"${{ github.server_url }}":                                "https://github.example",
		"${{ github.repository }}":                                ghRepo,
		"${{ github.event.pull_request.head.sha || github.sha }}": ghHead,
	})
	env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), summary, outputs), inputs...),
		"GITHUB_STATE="+emptyFile(t, "state"))...)
	r := runBinHow(t, launch{prefix: []string{"unshare", "-m", "--propagation", "private", "sh", "-c", fullDiskScript, "sh", out, list}}, env)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0: the leg verified, and its outputs say so\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// The step still says the verdict.
	got := parseFileCommands(t, outputs)
	var row matrix.Row
	if err := json.Unmarshal([]byte(got["row"]), &row); err != nil || got["status"] != "verified" || row.Cells[matrix.LiveCycle].Status != thisHostLane().liveStatus {
		t.Errorf("outputs %v (row: %v): want status verified and a row with the live cycle %s (this machine's lane)", got, err, thisHostLane().liveCell)
	}
	if got["result-path"] != "" {
		t.Errorf("result-path output %q for a result.json not saved", got["result-path"])
	}
	if js := readFile(t, summary); !strings.Contains(js, "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") {
		t.Errorf("the job summary lacks the leg's row:\n%s", js)
	}
	// An error annotation names the file and why.
	resultPath := filepath.Join(out, "result.json")
	var annotation string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "::error") && strings.Contains(l, "result not saved") {
			annotation = l
		}
	}
	if !strings.Contains(annotation, resultPath) || !strings.Contains(annotation, "no space left on device") {
		t.Errorf("no error annotation naming %s and the full disk (got %q):\n%s", resultPath, annotation, r.stdout)
	}

	// What out held after the run: no result.json at all, no temporary
	// file, and a summary.md only if it is this run's.
	listing := strings.Fields(readFile(t, list))
	for _, name := range listing {
		if name == "result.json" {
			t.Errorf("result.json is in out after a write that failed: %q", readFile(t, list+".result.json"))
		}
		if strings.Contains(name, ".tmp") {
			t.Errorf("a temporary file is left in out: %s (out holds %v)", name, listing)
		}
	}
	if sum, err := os.ReadFile(list + ".summary.md"); err == nil {
		// Whole: the job summary ends with the leg's summary.
		if !strings.Contains(string(sum), "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") ||
			!strings.HasSuffix(readFile(t, summary), string(sum)) {
			t.Errorf("summary.md in out is not this run's, or not all of it: %q", sum)
		}
		if want := filepath.Join(out, "summary.md"); got["summary-path"] != want {
			t.Errorf("summary-path output %q, want %q: summary.md was saved", got["summary-path"], want)
		}
	} else if got["summary-path"] != "" {
		t.Errorf("summary-path output %q, but summary.md was not saved", got["summary-path"])
	}
}

// TestResultNotSavedAtTheCommandLine: a passing `run` whose result.json
// cannot be written (a directory is in its place) still prints its
// verdict, says on stderr which file could not be saved, and exits 1: at
// the command line the files are the run's record. The earlier run's
// summary.md beside it is replaced by this run's.
func TestResultNotSavedAtTheCommandLine(t *testing.T) {
	testhost.RequireRoot(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	resultPath := filepath.Join(out, "result.json")
	if err := os.MkdirAll(filepath.Join(resultPath, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "summary.md"), []byte("stale summary"), 0o644); err != nil {
		t.Fatal(err)
	}
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	r := runBin(t, cmdEnv(t, "MVM_VERIFY_POLL_INTERVAL=50ms"), "run", "--provider", "local", "--suite", suite,
		"--local-state-dir", filepath.Join(dir, "state"), "--out", out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the result could not be saved)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, thisHostLane().display("local")+": verified") {
		t.Errorf("the verdict is not printed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "result not saved") || !strings.Contains(r.stderr, "save "+resultPath) {
		t.Errorf("stderr does not say %s could not be saved:\n%s", resultPath, r.stderr)
	}
	if !strings.Contains(r.stderr, "exit status 1 although the leg is verified") {
		t.Errorf("stderr does not say why a verified leg exits 1:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "result:  ") {
		t.Errorf("stdout names a result file that was not saved:\n%s", r.stdout)
	}
	if sum := readFile(t, filepath.Join(out, "summary.md")); !strings.Contains(sum, "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") {
		t.Errorf("summary.md is not this run's: %q", sum)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("a temporary file is left in out: %s", e.Name())
		}
	}
}
