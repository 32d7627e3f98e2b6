package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
)

// TestLegAndReportOnGitHub runs a leg as the runner would with a token and
// the API pointed at the fake GitHub, then the aggregating report job: the
// leg's status lands on the PR head, its row in the sticky comment, and
// report writes the matrix with a ? row for the leg that never reported,
// rewriting only the table in the docs file.
func TestLegAndReportOnGitHub(t *testing.T) {
	requireRoot(t)
	const repo, head, token = "o/r", "0123456789abcdef0123456789abcdef01234567", "ghs_testtoken"
	gh := fakegh.New()
	t.Cleanup(gh.Close)
	gh.AddToken(token, fakegh.Token{Login: "github-actions[bot]"})
	gh.SetPR(repo, fakegh.PR{Number: 7, HeadSHA: head, HeadRepo: repo, BaseRepo: repo})

	dir := t.TempDir()
	event := filepath.Join(dir, "event.json")
	os.WriteFile(event, []byte(`{"pull_request":{"number":7,"head":{"sha":"`+head+`","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}`), 0o644)
	base := []string{
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=" + repo, "GITHUB_RUN_ID=99", "GITHUB_RUN_ATTEMPT=1",
		"GITHUB_JOB=verify", "GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff", "GITHUB_SERVER_URL=https://github.example",
		"GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + event,
		"INPUT_GITHUB-TOKEN=" + token, "INPUT_GITHUB-API-URL=" + gh.URL(), "MVM_VERIFY_POLL_INTERVAL=50ms",
	}
	suite := writeSuite(t, "user: root\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	leg := runBin(t, cmdEnv(t, append(base,
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "leg"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...))
	if leg.code != 0 {
		t.Fatalf("leg exit %d\nstdout:\n%s\nstderr:\n%s", leg.code, leg.stdout, leg.stderr)
	}
	// pending at the start, pending again once the host is ready, then the
	// verdict.
	var states []string
	for _, st := range gh.Statuses(repo, head) {
		if st.Context == "mvm-verify/local" {
			states = append(states, st.State)
		}
	}
	if strings.Join(states, ",") != "pending,pending,success" {
		t.Errorf("statuses for mvm-verify/local on the head SHA: %v, want pending, pending, success", states)
	}
	comments := gh.Comments(repo, 7)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "<!-- mvm-verify:matrix -->") || !strings.Contains(comments[0].Body, "[Local](https://github.example/o/r/actions/runs/99) | ✅ | ✅ verified") {
		t.Fatalf("want one sticky comment holding the Local row, got %+v", comments)
	}

	docs := filepath.Join(dir, "matrix.md")
	before := "# Verification\n\nintro stays\n\n<!-- mvm-verify:start -->\nold table\n<!-- mvm-verify:end -->\n\noutro stays\n"
	os.WriteFile(docs, []byte(before), 0o644)
	out := filepath.Join(dir, "report")
	outputs := filepath.Join(dir, "outputs")
	os.WriteFile(outputs, nil, 0o644)
	rep := runBin(t, cmdEnv(t, append(base, "INPUT_MODE=report", "INPUT_EXPECT=local,aws", "INPUT_OUT="+out,
		"INPUT_MATRIX-FILE="+docs, "GITHUB_OUTPUT="+outputs)...))
	if rep.code != 0 {
		t.Fatalf("report exit %d\nstdout:\n%s\nstderr:\n%s", rep.code, rep.stdout, rep.stderr)
	}
	var rows []struct {
		Key   string
		Cells map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(parseFileCommands(t, outputs)["matrix"]), &rows); err != nil {
		t.Fatalf("matrix output: %v", err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Key] = r.Cells["Live cycle"].Status
	}
	if got["local"] != "pass" || got["aws"] == "" || got["aws"] == "pass" {
		t.Errorf("matrix rows %v: want local pass and aws present without a result", got)
	}
	after, _ := os.ReadFile(docs)
	if !strings.HasPrefix(string(after), "# Verification\n\nintro stays\n\n<!-- mvm-verify:start -->\n") ||
		!strings.HasSuffix(string(after), "<!-- mvm-verify:end -->\n\noutro stays\n") || strings.Contains(string(after), "old table") {
		t.Errorf("docs file not rewritten between the markers only:\n%s", after)
	}
	if _, err := os.Stat(filepath.Join(out, "matrix.json")); err != nil {
		t.Errorf("report left no matrix.json: %v", err)
	}
}
