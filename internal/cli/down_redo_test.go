package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// redoUser is the suite user of the redo test: one the run creates and
// its teardown fails to delete, a name no other test uses.
const redoUser = "mvr-redown"

// TestDownKeepsTheVerdictOfAFinishedRun: a run finished its suite with a
// verdict, but its teardown failed (userdel failing, as when another tool
// holds the account files' lock: a stand-in earlier in the run's PATH),
// so it kept its state for down. down tears down again — once failing as
// the run did, then succeeding — and the leg keeps the run's verdict:
// result.json keeps the run's outcome, row and steps with one teardown
// phase, down's last; the commit status stays the run's (failure), never
// "ended without a result" (error).
func TestDownKeepsTheVerdictOfAFinishedRun(t *testing.T) {
	t.Parallel()
	testhost.RequireRoot(t)
	removeUser := func() { exec.Command("userdel", "-r", "-f", redoUser).Run() }
	removeUser() // left by an earlier run of this test killed before its cleanup
	t.Cleanup(removeUser)
	gh := fakeGitHub(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	suite := writeSuite(t, "user: "+redoUser+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL())...)
	stubbed := append([]string{failingUserdelPath(t)}, env[1:]...)
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err == nil {
			runBin(t, env, "down", "--out", out)
		}
	})

	r := runBin(t, stubbed, "run", "--provider", "local", "--suite", suite, "--out", out,
		"--local-state-dir", filepath.Join(tmp, "state"))
	if r.code != 1 {
		t.Fatalf("run with its teardown failing: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := user.Lookup(redoUser); err != nil {
		t.Fatalf("user %s gone although userdel failed: the fault was not injected (%v)\n%s", redoUser, err, r.stdout)
	}
	if !strings.Contains(r.stderr, "mvm-verify down --out") {
		t.Fatalf("the run did not point to down:\n%s", r.stderr)
	}
	ran := r.resultJSON(t)
	if ran["outcome"] != "failed" || phaseOf(t, ran, "teardown")["status"] != "fail" || phaseOf(t, ran, "suite")["status"] != "pass" {
		t.Fatalf("the run's result: outcome %v, phases %v; want failed with the suite passed and the teardown failed", ran["outcome"], ran["phases"])
	}
	// The state left for down says the run finished, and how.
	var state struct {
		PID     int    `json:"pid"`
		Outcome string `json:"outcome"`
	}
	if data, err := os.ReadFile(filepath.Join(out, "host", "host.json")); err != nil || json.Unmarshal(data, &state) != nil {
		t.Fatalf("the run left no readable state for down: %v", err)
	}
	if state.Outcome != "failed" {
		t.Errorf("the state left for down: outcome %q, want the run's, failed", state.Outcome)
	}
	runRow := rowLine(t, r.file(t, "summary.md"))
	runStatuses := len(gh.Statuses(ghRepo, ghHead))
	if st, _ := lastLocalStatus(gh, thisHostLane().key("local")); st != "failure" {
		t.Fatalf("status after the run %q, want failure", st)
	}

	// down while userdel still fails: its teardown fails as the run's did.
	// Each down is a step of its own, with its own outputs and summary.
	failedOutputs, failedSummary := emptyFile(t, "failed-down-outputs"), emptyFile(t, "failed-down-summary")
	failed := runBin(t, append(stubbed, "GITHUB_OUTPUT="+failedOutputs, "GITHUB_STEP_SUMMARY="+failedSummary), "down", "--out", out)
	if failed.code != 1 {
		t.Fatalf("down with userdel failing: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", failed.code, failed.stdout, failed.stderr)
	}
	if got, _ := checkLegOutputs(t, failedOutputs, failedSummary, "down", out); got["status"] != "failed" {
		t.Errorf("status output of the failing down %q, want the run's verdict, failed", got["status"])
	}
	downOutputs, downSummary := emptyFile(t, "down-outputs"), emptyFile(t, "down-summary")
	down := runBin(t, append(env, "GITHUB_OUTPUT="+downOutputs, "GITHUB_STEP_SUMMARY="+downSummary), "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down: exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	// The outputs are the leg's: the run's verdict, not down's exit status.
	if got, _ := checkLegOutputs(t, downOutputs, downSummary, "down", out); got["status"] != "failed" {
		t.Errorf("status output after down %q, want the run's verdict, failed", got["status"])
	}
	if _, err := user.Lookup(redoUser); err == nil {
		t.Errorf("user %s still exists after down", redoUser)
	}

	res := down.resultJSON(t)
	if res["outcome"] != "failed" || res["ended"] != nil {
		t.Errorf("result.json after down: outcome %v, ended %v; want the run's outcome failed, not ended without a result", res["outcome"], res["ended"])
	}
	if res["first_failure"] != ran["first_failure"] {
		t.Errorf("first failure after down %q, want the run's %q", res["first_failure"], ran["first_failure"])
	}
	steps, _ := res["steps"].([]any)
	if len(steps) != 1 || steps[0].(map[string]any)["name"] != "smoke" || steps[0].(map[string]any)["status"] != "pass" {
		t.Errorf("steps after down: %v, want the run's passed smoke", res["steps"])
	}
	var teardowns []map[string]any
	for _, p := range res["phases"].([]any) {
		if ph := p.(map[string]any); ph["name"] == "teardown" {
			teardowns = append(teardowns, ph)
		}
	}
	if len(teardowns) != 1 || teardowns[0]["status"] != "pass" {
		t.Errorf("teardown phases after down: %v, want one, down's, passed", teardowns)
	}
	// The row is the run's: the same cells, its notes with down's.
	row := rowLine(t, down.file(t, "summary.md"))
	cells, runCells := strings.Split(row, "|"), strings.Split(runRow, "|")
	if len(cells) != len(runCells) || strings.Join(cells[:5], "|") != strings.Join(runCells[:5], "|") {
		t.Errorf("row after down %q, want the run's cells %q", row, runRow)
	}
	if !strings.Contains(row, "teardown redone by down") || strings.Contains(row, "without a result") {
		t.Errorf("row after down %q, want the run's notes and that down redid the teardown", row)
	}

	statuses := gh.Statuses(ghRepo, ghHead)
	if len(statuses) == runStatuses {
		t.Errorf("down posted no status for the leg")
	}
	for _, st := range statuses[runStatuses:] {
		if st.Context == thisHostLane().context("local") && st.State != "failure" {
			t.Errorf("status posted by down %q %q, want the run's verdict, failure", st.State, st.Description)
		}
	}
	if c := localRow(t, gh, thisHostLane().key("local")); !strings.Contains(c, "teardown redone by down") || strings.Contains(c, "without a result") {
		t.Errorf("comment row after down %q, want the run's row with down's note", c)
	}
}

// phaseOf is the named phase of a decoded result.json, or nil.
func phaseOf(t *testing.T, res map[string]any, name string) map[string]any {
	t.Helper()
	phases, _ := res["phases"].([]any)
	for _, p := range phases {
		if ph, _ := p.(map[string]any); ph["name"] == name {
			return ph
		}
	}
	return nil
}
