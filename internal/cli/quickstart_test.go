package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// quickStartArgs is the mvm-verify command line of the README's quick
// start (what follows `go run .`), so the test runs what the README tells
// a reader to run and fails when the two drift apart.
func quickStartArgs(t *testing.T) []string {
	t.Helper()
	readme := readFile(t, filepath.Join("..", "..", "README.md"))
	_, section, ok := strings.Cut(readme, "## Quick start")
	if !ok {
		t.Fatal("README.md has no \"## Quick start\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var found []string
	for _, l := range strings.Split(section, "\n") {
		if _, cmd, ok := strings.Cut(l, "go run . "); ok {
			cmd, _, _ = strings.Cut(cmd, "&&") // the command ends the line today; stop at a chained one
			found = append(found, strings.TrimSpace(cmd))
		}
	}
	if len(found) != 1 {
		t.Fatalf("README's quick start has %d `go run . …` commands, want 1: %q", len(found), found)
	}
	const want = "run --provider local --suite examples/quickstart.yml"
	if found[0] != want {
		t.Fatalf("README's quick start runs %q, want %q (update this test with the README)", found[0], want)
	}
	return strings.Fields(found[0])
}

// TestQuickStart runs the README's quick start through the built binary,
// as the README gives it: from a directory holding examples/quickstart.yml
// (a copy of the repository's, so the run's ./mvm-verify-out lands in a
// temp dir, not in the source tree), as root. With usable KVM the kvm
// step passes; without it lane auto is no-kvm and the step reads n/a, as
// the README says. The seccomp probe passes either way.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	testhost.RequireRoot(t)
	args := quickStartArgs(t)
	suite := args[slices.Index(args, "--suite")+1]
	data, err := os.ReadFile(filepath.Join("..", "..", suite))
	if err != nil {
		t.Fatalf("the quick start's suite: %v", err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(suite)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, suite), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBinHow(t, launch{dir: dir}, cmdEnv(t, "MVM_VERIFY_POLL_INTERVAL=50ms"), args...)
	r.out = filepath.Join(dir, "mvm-verify-out") // the README's "./mvm-verify-out"
	if r.code != 0 {
		t.Fatalf("quick start exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"summary.md", "result.json"} {
		if _, err := os.Stat(filepath.Join(r.out, name)); err != nil {
			t.Errorf("the quick start left no %s in ./mvm-verify-out: %v", name, err)
		}
	}
	res := r.resultJSON(t)
	lane := thisHostLane()
	wantLane, wantLive := lane.lane, lane.liveCell
	if res["outcome"] != "verified" || res["lane"] != wantLane {
		t.Errorf("outcome %v, lane %v; want verified on lane %s (%s)", res["outcome"], res["lane"], wantLane, lane.why)
	}
	row := rowLine(t, r.file(t, "summary.md"))
	cells := strings.Split(row, "|")
	// | Provider | Preflight | Live cycle | Seccomp probe | Notes |
	if len(cells) < 6 {
		t.Fatalf("row %q has too few cells", row)
	}
	for _, c := range []struct {
		i         int
		col, want string
	}{{2, "Preflight", "✅"}, {3, "Live cycle", wantLive}, {4, "Seccomp probe", "✅"}} {
		if !strings.Contains(cells[c.i], c.want) {
			t.Errorf("row %q: %s is %q, want %s", row, c.col, cells[c.i], c.want)
		}
	}
	if !strings.Contains(r.stdout, "==> teardown") {
		t.Errorf("the quick start did not print its phases:\n%s", r.stdout)
	}
	// The progress is the ==> lines alone: no log records of another
	// format mixed in (the local sshd's start is debug detail).
	if strings.Contains(r.stdout+r.stderr, "level=") {
		t.Errorf("log records mixed into the progress:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	// local has no candidates to choose from: its one attempt is no list.
	if md := r.file(t, "summary.md"); strings.Contains(md, "Candidates tried") {
		t.Errorf("summary.md lists candidates tried for local:\n%s", md)
	}
}
