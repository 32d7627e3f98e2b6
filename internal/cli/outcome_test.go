package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// zeroTestsSuite's only Seccomp-probe step is parsed as libtest and runs
// no test, as the seccomp test does on a target where it compiles to
// nothing. It is a suite's steps, for nonRootSuiteYAML's user.
const zeroTestsSuite = `
steps:
  - name: smoke
    run: "true"
    column: Live cycle
  - name: seccomp probe
    run: |
      printf 'running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n'
    parse: libtest
    column: Seccomp probe
`

// A leg whose Seccomp-probe check was not run is incomplete, not
// verified: exit 1, the cell —, the outcome and the first problem say so
// (not a "first failure": nothing failed).
func TestRunLocalZeroTestsIsIncomplete(t *testing.T) {
	r := localRun(t, nonRootSuiteYAML(t, zeroTestsSuite))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (a check was not run)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if res := r.resultJSON(t); res["outcome"] != "incomplete" {
		t.Errorf("outcome %v, want incomplete", res["outcome"])
	}
	if !strings.Contains(r.stdout, thisHostLane().display("local")+": incomplete") || !strings.Contains(r.stdout, "first problem: seccomp probe: running 0 tests") {
		t.Errorf("stdout does not say incomplete and what was not run:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "first failure") {
		t.Errorf("stdout calls a check not run a failure:\n%s", r.stdout)
	}
	cells := strings.Split(rowLine(t, r.file(t, "summary.md")), "|")
	if !strings.Contains(cells[4], "—") {
		t.Errorf("Seccomp probe cell %q, want —", cells[4])
	}
	if !strings.Contains(cells[5], "seccomp probe") {
		t.Errorf("Notes %q do not name the step that was not run", cells[5])
	}
}

// A real cargo test whose gated test skips itself (its variable unset):
// with --show-output the skip is seen, and the leg is incomplete, never
// verified, though every test "passed".
func TestRunLocalGatedSkipIsIncomplete(t *testing.T) {
	requireUserCargo(t)
	crate := readableCrateCopy(t)
	r := localRun(t, nonRootSuiteYAML(t, `
steps:
  - name: smoke
    run: "true"
    column: Live cycle
  - name: seccomp probe
    run: target=$(mktemp -d) && trap 'rm -rf "$target"' EXIT && cd `+crate+` && CARGO_TARGET_DIR=$target cargo test --offline -- --show-output
    parse: libtest
    column: Seccomp probe
    timeout: 5m
`))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (a gated test skipped)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if res := r.resultJSON(t); res["outcome"] != "incomplete" {
		t.Errorf("outcome %v, want incomplete", res["outcome"])
	}
	if !strings.Contains(r.stdout, "printed skipped (env-gated): not run") {
		t.Errorf("stdout does not say the gated test was not run:\n%s", r.stdout)
	}
}

// In Actions the same leg's commit status is failure, never success, and
// the status output reads incomplete.
func TestIncompleteLegOnGitHubIsNotSuccess(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	dir := t.TempDir()
	outputs := emptyFile(t, "outputs")
	leg := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), outputs),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"INPUT_PROVIDER=local", "INPUT_SUITE="+nonRootSuite(t, zeroTestsSuite), "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...))
	if leg.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", leg.code, leg.stdout, leg.stderr)
	}
	if got := parseFileCommands(t, outputs)["status"]; got != "incomplete" {
		t.Errorf("status output %q, want incomplete", got)
	}
	var last string
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == thisHostLane().context("local") {
			last = st.State
		}
	}
	if last != "failure" {
		t.Errorf("final commit status %q, want failure", last)
	}
}

// `up` keeps the host and runs no step: it exits 0 but never reads as
// verified — not on stdout, not in the row, not in result.json.
func TestUpIsNotVerified(t *testing.T) {
	testhost.RequireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	suite := nonRootSuite(t, "steps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + tmp
	up := runBin(t, env, "up", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", filepath.Join(tmp, "state"))
	t.Cleanup(func() {
		if down := runBin(t, env, "down", "--out", out); down.code != 0 {
			t.Errorf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
		}
	})
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	if strings.Contains(up.stdout, "verified") {
		t.Errorf("up reads as verified although no step ran:\n%s", up.stdout)
	}
	if !strings.Contains(up.stdout, thisHostLane().display("local")+": up") {
		t.Errorf("stdout lacks the outcome up:\n%s", up.stdout)
	}
	if res := up.resultJSON(t); res["outcome"] != "up" {
		t.Errorf("outcome %v, want up", res["outcome"])
	}
	cells := strings.Split(rowLine(t, up.file(t, "summary.md")), "|")
	if !strings.Contains(cells[3], "⏳") || !strings.Contains(cells[4], "—") {
		t.Errorf("Live cycle %q and Seccomp probe %q, want ⏳ and —", cells[3], cells[4])
	}
	if !strings.Contains(cells[5], "suite not run") {
		t.Errorf("Notes %q do not say the suite was not run", cells[5])
	}
}

// `up` in Actions leaves the leg's commit status pending — host up, suite
// not run — and never posts success.
func TestUpOnGitHubStaysPending(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	outputs := emptyFile(t, "outputs")
	suite := nonRootSuite(t, "steps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + tmp
	up := runBin(t, append(append(env, actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), outputs)...),
		"INPUT_MODE=up", "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+out, "INPUT_LOCAL-STATE-DIR="+filepath.Join(tmp, "state")))
	t.Cleanup(func() {
		if down := runBin(t, env, "down", "--out", out); down.code != 0 {
			t.Errorf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
		}
	})
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	if got := parseFileCommands(t, outputs)["status"]; got != "up" {
		t.Errorf("status output %q, want up", got)
	}
	var states []string
	var last string
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == thisHostLane().context("local") {
			states = append(states, st.State)
			last = st.Description
		}
	}
	if len(states) == 0 {
		t.Fatal("no commit status posted for the leg")
	}
	for _, s := range states {
		if s != "pending" {
			t.Errorf("statuses %v: want only pending for a kept host", states)
			break
		}
	}
	if !strings.Contains(last, "host is up; suite not run") {
		t.Errorf("last status description %q does not say the suite was not run", last)
	}
	for _, c := range gh.Comments(ghRepo, 7) {
		if strings.Contains(c.Body, "verified") {
			t.Errorf("the PR comment reads verified for a kept host:\n%s", c.Body)
		}
	}
}
