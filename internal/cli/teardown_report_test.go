package cli_test

import (
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// writes are the requests that changed something on the fake GitHub.
func writes(gh *fakegh.Server) []fakegh.Request {
	var out []fakegh.Request
	for _, r := range gh.Requests() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			out = append(out, r)
		}
	}
	return out
}

// TestPostLeavesASettledLegAlone: main tore down and posted its final row
// (state "reported"), so the post step, after its own teardown and leak
// check, writes nothing to GitHub: posting main's row again would only
// repeat it, and over a newer report of the leg (a re-run's, report's).
func TestPostLeavesASettledLegAlone(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	dir := t.TempDir()
	stateFile := emptyFile(t, "state")
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "GITHUB_STATE="+stateFile,
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "leg"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...)
	main := runBin(t, env)
	if main.code != 0 {
		t.Fatalf("main exit %d\nstdout:\n%s\nstderr:\n%s", main.code, main.stdout, main.stderr)
	}
	state := parseFileCommands(t, stateFile)
	if state["reported"] != "true" || state["outcome"] != "verified" || state["row"] == "" {
		t.Fatalf("state after main: reported %q outcome %q row %q; want a settled, verified leg with its row",
			state["reported"], state["outcome"], state["row"])
	}
	if st, _ := lastLocalStatus(gh, thisHostLane().key("local")); st != "success" {
		t.Fatalf("status after main %q, want success", st)
	}
	before := len(writes(gh))
	postEnv, postFiles := runnerPostEnv(t, env, state)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	out, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if !strings.Contains(readFile(t, postFiles["GITHUB_STEP_SUMMARY"]), "leak check: nothing tagged with this run is left") {
		t.Errorf("post did not run its leak check:\n%s", out)
	}
	if w := writes(gh)[before:]; len(w) != 0 {
		t.Errorf("post wrote to GitHub for a leg main had settled: %+v\n%s", w, out)
	}
}

// downFailUser is the suite user of TestPostEndsALegAFailedDownLeft: one
// the up creates and the failing down cannot delete, a name no other test
// uses.
const downFailUser = "mvr-downfail"

// TestPostEndsALegAFailedDownLeft: `up` kept a host, `down` failed to tear
// it down (userdel failing, as when another tool holds the account files'
// lock: a stand-in earlier in its PATH) and reported so. The up step's post
// step at the job's end then tears it down, and the leg must end with that:
// a failed down is no reason to leave its "down failed" note standing.
func TestPostEndsALegAFailedDownLeft(t *testing.T) {
	t.Parallel()
	testhost.RequireRoot(t)
	removeUser := func() { exec.Command("userdel", "-r", "-f", downFailUser).Run() }
	removeUser() // left by an earlier run of this test killed before its cleanup
	t.Cleanup(removeUser)
	gh := fakeGitHub(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	stateFile := emptyFile(t, "state")
	suite := writeSuite(t, "user: "+downFailUser+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	base := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_OUT="+out)...)
	upEnv := append(append([]string{}, base...), "GITHUB_STATE="+stateFile, "INPUT_MODE=up", "INPUT_PROVIDER=local",
		"INPUT_SUITE="+suite, "INPUT_LOCAL-STATE-DIR="+filepath.Join(tmp, "state"))
	up := runBin(t, upEnv)
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err == nil {
			runBin(t, cmdEnv(t), "down", "--out", out)
		}
	})
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	if _, err := user.Lookup(downFailUser); err != nil {
		t.Fatalf("up did not create the suite user %s, which down is to fail to delete: %v", downFailUser, err)
	}

	stubbed := append([]string{failingUserdelPath(t)}, base[1:]...)
	down := runBin(t, append(stubbed, "INPUT_MODE=down"))
	if down.code != 1 {
		t.Fatalf("down with userdel failing: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if _, err := user.Lookup(downFailUser); err != nil {
		t.Fatalf("user %s gone although userdel failed: the fault was not injected (%v)", downFailUser, err)
	}
	const failedNote = "down failed to tear it down"
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "error" || !strings.Contains(desc, failedNote) {
		t.Fatalf("status after the failed down %q %q, want error with %q", st, desc, failedNote)
	}

	postEnv, _ := runnerPostEnv(t, upEnv, parseFileCommands(t, stateFile))
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	pout, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, pout)
	}
	if _, err := user.Lookup(downFailUser); err == nil {
		t.Errorf("user %s still exists after the post step", downFailUser)
	}
	const postNote = "host kept by up, torn down at the job's end; the suite was not run"
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "error" || !strings.Contains(desc, postNote) {
		t.Errorf("status after the post step %q %q, want error with %q\n%s", st, desc, postNote, pout)
	}
	if row := localRow(t, gh, thisHostLane().key("local")); !strings.Contains(row, postNote) || strings.Contains(row, failedNote) {
		t.Errorf("comment row after the post step %q, want the post step's note, not the failed down's", row)
	}
}
