package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// TestPostStepSavedRowShowsItsFailedTeardown: main saved a passing final
// row and was killed before posting it and before tearing down. The post
// step's teardown then fails (here the leg's local state file is damaged,
// so the destroy cannot tell what to undo). The row it posts again must not
// stay green: the leg left something behind.
func TestPostStepSavedRowShowsItsFailedTeardown(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	now := time.Now().UTC().Truncate(time.Second)
	id := providers.Identity{Repo: ghRepo, RunID: "99", RunAttempt: "1", Job: "verify", Key: "local",
		HeadSHA: ghHead, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Leg: "posttd1"}
	stateDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(stateDir, id.Name()+".json"), []byte(`{"changes": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	row := matrix.Row{Key: "local", Provider: "Local", HeadSHA: ghHead, UpdatedAt: now}
	row.Set(matrix.Preflight, matrix.Pass, "")
	row.Set(matrix.LiveCycle, matrix.Pass, "verified "+now.Format("2006-01-02"))
	row.Set(matrix.SeccompProbe, matrix.Pass, "")
	idJSON, _ := json.Marshal(id)
	rowJSON, _ := json.Marshal(row)
	env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_PROVIDER=local",
		"INPUT_OUT="+filepath.Join(t.TempDir(), "leg"), "INPUT_LOCAL-STATE-DIR="+stateDir,
		"STATE_provider=local", "STATE_identity="+string(idJSON), "STATE_outcome=verified", "STATE_row="+string(rowJSON))...)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = env
	out, err := post.CombinedOutput()
	if err == nil {
		t.Fatalf("post succeeded with a damaged state file; the test did not make its teardown fail:\n%s", out)
	}
	if st, desc := lastLocalStatus(gh, "local"); st != "failure" || !strings.Contains(desc, "❌ Live cycle") {
		t.Errorf("last status %q %q, want failure with the live cycle ❌ (the teardown failed)\n%s", st, desc, out)
	}
	if r := localRow(t, gh, "local"); strings.Contains(r, "✅ verified") || !strings.Contains(r, "teardown by the post step failed") {
		t.Errorf("comment row %q, want the live cycle ❌ and a note that the post step's teardown failed", r)
	}
}

// TestPostStepReportsTheOutcomeWhenTheSavedRowIsUnusable: main saved its
// outcome but its row is damaged or another leg's. The leg did end with a
// verdict, so the post step reports it from the outcome, not as "ended
// without a result".
func TestPostStepReportsTheOutcomeWhenTheSavedRowIsUnusable(t *testing.T) {
	testhost.RequireRoot(t)
	for _, tc := range []struct {
		name, outcome, row string
		state, want        string // the status's state and a part of its description
	}{
		{"not JSON", "verified", `{"key": "lo`, "success", "✅ Live cycle"},
		{"another leg's", "failed", `{"key": "aws", "provider": "AWS"}`, "failure", "❌ Live cycle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := fakeGitHub(t)
			now := time.Now().UTC().Truncate(time.Second)
			id := providers.Identity{Repo: ghRepo, RunID: "99", RunAttempt: "1", Job: "verify", Key: "local",
				HeadSHA: ghHead, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Leg: "postrow1"}
			idJSON, _ := json.Marshal(id)
			env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
				"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_PROVIDER=local",
				"INPUT_OUT="+filepath.Join(t.TempDir(), "leg"), "INPUT_LOCAL-STATE-DIR="+t.TempDir(),
				"STATE_provider=local", "STATE_identity="+string(idJSON), "STATE_torn-down=true",
				"STATE_outcome="+tc.outcome, "STATE_row="+tc.row)...)
			post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
			post.Env = env
			out, err := post.CombinedOutput()
			if err != nil {
				t.Fatalf("post: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "saved row is unusable") {
				t.Errorf("post did not log why the saved row was not used:\n%s", out)
			}
			if st, desc := lastLocalStatus(gh, "local"); st != tc.state || !strings.Contains(desc, tc.want) {
				t.Errorf("last status %q %q, want %s with %q (main's outcome %s)\n%s", st, desc, tc.state, tc.want, tc.outcome, out)
			}
			if r := localRow(t, gh, "local"); strings.Contains(r, "without a result") || !strings.Contains(r, "main step ended "+tc.outcome) {
				t.Errorf("comment row %q, want it to say main ended %s", r, tc.outcome)
			}
		})
	}
}
