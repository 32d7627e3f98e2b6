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
	"github.com/tinylabscom/mvm-verify/providers"
)

// TestPostStepSavedRowShowsItsFailedTeardown: main saved a passing final
// row and was killed before posting it and before tearing down. The post
// step's teardown then fails (here the leg's local state file is damaged,
// so the destroy cannot tell what to undo). The row it posts again must not
// stay green: the leg left something behind.
func TestPostStepSavedRowShowsItsFailedTeardown(t *testing.T) {
	requireRoot(t)
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
	if st, desc := lastLocalStatus(gh); st != "failure" || !strings.Contains(desc, "❌ Live cycle") {
		t.Errorf("last status %q %q, want failure with the live cycle ❌ (the teardown failed)\n%s", st, desc, out)
	}
	if r := localRow(t, gh); strings.Contains(r, "✅ verified") || !strings.Contains(r, "teardown by the post step failed") {
		t.Errorf("comment row %q, want the live cycle ❌ and a note that the post step's teardown failed", r)
	}
}
