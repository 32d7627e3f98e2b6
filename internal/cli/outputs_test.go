package cli_test

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// modeOutputs is the outputs action.yml says mode sets, sorted.
func modeOutputs(mode string) []string {
	var names []string
	for _, o := range config.Outputs() {
		if slices.Contains(o.Modes, mode) {
			names = append(names, o.Name)
		}
	}
	slices.Sort(names)
	return names
}

// checkLegOutputs reads a step's GITHUB_OUTPUT file and checks that it
// holds exactly the outputs the docs give mode, and that they describe the
// result in out: status its outcome, row its row, the paths its files (the
// summary the one in the step's job summary). It returns the outputs and
// the result.
func checkLegOutputs(t *testing.T, outputsFile, jobSummaryFile, mode, out string) (map[string]string, *verify.Result) {
	t.Helper()
	outputs := parseFileCommands(t, outputsFile)
	if got, want := slices.Sorted(maps.Keys(outputs)), modeOutputs(mode); !slices.Equal(got, want) {
		t.Errorf("%s set the outputs %v, want those the docs give %s: %v", mode, got, mode, want)
	}
	resultPath, summaryPath := filepath.Join(out, "result.json"), filepath.Join(out, "summary.md")
	if outputs["result-path"] != resultPath || outputs["summary-path"] != summaryPath {
		t.Errorf("%s: result-path %q, summary-path %q; want %q and %q", mode, outputs["result-path"], outputs["summary-path"], resultPath, summaryPath)
	}
	var res verify.Result
	if err := json.Unmarshal([]byte(readFile(t, resultPath)), &res); err != nil {
		t.Fatalf("%s: result.json: %v", mode, err)
	}
	if outputs["status"] != string(res.Outcome) {
		t.Errorf("%s: status output %q, want result.json's outcome %q", mode, outputs["status"], res.Outcome)
	}
	if want := mustMarshal(t, res.Row()); outputs["row"] != want {
		t.Errorf("%s: row output\n%s\nwant result.json's row\n%s", mode, outputs["row"], want)
	}
	if md := readFile(t, summaryPath); !strings.Contains(readFile(t, jobSummaryFile), md) {
		t.Errorf("%s: the job summary does not hold summary-path's file:\n%s", mode, md)
	}
	return outputs, &res
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRunnerDownSetsOutputs: a workflow runs the action with mode up, then
// with mode down, each step with its own GITHUB_OUTPUT as the runner gives
// it. down sets the same outputs as up — status, row, summary-path,
// result-path — from the result it rewrote: status error (the host up kept
// is gone, no verdict came), the row with down's note. A down with nothing
// left to tear down is bad input: status error and a bad input's row.
func TestRunnerDownSetsOutputs(t *testing.T) {
	testhost.RequireRoot(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	expr := map[string]string{
		"${{ github.token }}":                                     "ghs_unused",
		"${{ github.server_url }}":                                "https://github.example",
		"${{ github.repository }}":                                ghRepo,
		"${{ github.event.pull_request.head.sha || github.sha }}": ghHead,
	}
	// step is one step of the job: the same with: but mode, and fresh
	// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files.
	step := func(mode string) (res result, outputs, summary string) {
		t.Helper()
		outputs, summary = emptyFile(t, mode+"-outputs"), emptyFile(t, mode+"-summary")
		inputs := runnerInputs(t, map[string]string{
			"mode": mode, "provider": "local", "suite": suite, "out": out, "comment": "false",
			"local-state-dir": filepath.Join(dir, "state"), "timeout-minutes": "10",
		}, expr)
		env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), summary, outputs), inputs...),
			"GITHUB_STATE="+emptyFile(t, mode+"-state"))...)
		return runBin(t, env), outputs, summary
	}
	if mode := "up"; !slices.Contains(modeOutputs(mode), "status") {
		t.Fatalf("the docs give mode %s no status output: %v", mode, modeOutputs(mode))
	}

	up, upOutputs, upSummary := step("up")
	t.Cleanup(func() { runBin(t, cmdEnv(t), "down", "--out", out) }) // if the test fails before down
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	if got, _ := checkLegOutputs(t, upOutputs, upSummary, "up", out); got["status"] != "up" {
		t.Errorf("up: status output %q, want up", got["status"])
	}

	down, downOutputs, downSummary := step("down")
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	got, res := checkLegOutputs(t, downOutputs, downSummary, "down", out)
	if got["status"] != "error" || res.Ended == nil {
		t.Errorf("down: status output %q, result ended %v; want error, the leg ended without a verdict", got["status"], res.Ended)
	}
	var row struct {
		Key   string `json:"key"`
		Notes string `json:"notes"`
		Cells map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(got["row"]), &row); err != nil {
		t.Fatalf("down: row output is not JSON: %v: %q", err, got["row"])
	}
	const note = "host kept by up, torn down by down; the suite was not run"
	// up resolved lane auto to this machine's lane, which keys the row.
	if key := thisHostLane().key("local"); row.Key != key || !strings.Contains(row.Notes, note) || row.Cells["Live cycle"].Status == "pending" {
		t.Errorf("down: row %+v; want key %s, the note %q, the live cycle no longer pending", row, key, note)
	}
	if phase := phaseStatus(t, got["result-path"], "teardown"); phase != "pass" {
		t.Errorf("down: result-path's teardown phase %q, want pass", phase)
	}

	// Nothing is left to tear down: bad input, before any result.
	again, againOutputs, _ := step("down")
	if again.code != 2 {
		t.Fatalf("second down exit %d, want 2 (nothing to tear down)\nstdout:\n%s\nstderr:\n%s", again.code, again.stdout, again.stderr)
	}
	// The leg's row is a bad input's: Preflight ❌, as a refused preflight's.
	againGot := parseFileCommands(t, againOutputs)
	if keys := slices.Sorted(maps.Keys(againGot)); againGot["status"] != "error" || !slices.Equal(keys, []string{"row", "status"}) {
		t.Errorf("second down set the outputs %v, want status error and a row, nothing else", againGot)
	}
	var badRow struct {
		Key   string `json:"key"`
		Cells map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(againGot["row"]), &badRow); err != nil || badRow.Key != "local" || badRow.Cells["Preflight"].Status != "fail" {
		t.Errorf("second down: row output %q (%v), want key local with Preflight fail", againGot["row"], err)
	}
}
