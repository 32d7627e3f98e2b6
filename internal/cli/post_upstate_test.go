package cli_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// upThenPost runs, as GitHub's runner would, an up step (mode up, the
// local provider, --out out) and then its post step at the job's end, with
// post's PATH first when given (a stand-in command). It returns the post
// step's output, exit status and job summary. The kept host's state must be
// in out before the post step: a test of what the post step does with it
// shows nothing otherwise.
func upThenPost(t *testing.T, extraEnv []string, suite, out, postPATH string) (postOut string, postCode int, postSummary string) {
	t.Helper()
	tmp := t.TempDir()
	stateFile := emptyFile(t, "state")
	upEnv := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")), extraEnv...),
		"INPUT_OUT="+out, "GITHUB_STATE="+stateFile, "INPUT_MODE=up", "INPUT_PROVIDER=local",
		"INPUT_SUITE="+suite, "INPUT_LOCAL-STATE-DIR="+filepath.Join(tmp, "state"))...)
	up := runBin(t, upEnv)
	t.Cleanup(func() {
		// If the test fails before the host is torn down.
		if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err == nil {
			runBin(t, cmdEnv(t), "down", "--out", out)
		}
	})
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	for _, name := range []string{"host.json", "id_ed25519", "known_hosts"} {
		if _, err := os.Stat(filepath.Join(out, "host", name)); err != nil {
			t.Fatalf("up kept no %s in %s: %v", name, filepath.Join(out, "host"), err)
		}
	}
	postEnv, postFiles := runnerPostEnv(t, upEnv, parseFileCommands(t, stateFile))
	if postPATH != "" {
		postEnv = append(postEnv, postPATH) // the last value wins
	}
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	pout, err := post.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		postCode = ee.ExitCode()
	case err != nil:
		t.Fatalf("post: %v\n%s", err, pout)
	}
	return string(pout), postCode, readFile(t, postFiles["GITHUB_STEP_SUMMARY"])
}

// rowWith is the line of a markdown table in md holding note, "" if none.
func rowWith(md, note string) string {
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") && strings.Contains(line, note) {
			return line
		}
	}
	return ""
}

// readResult reads result.json in out.
func readResult(t *testing.T, out string) verify.Result {
	t.Helper()
	var res verify.Result
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "result.json"))), &res); err != nil {
		t.Fatalf("result.json: %v", err)
	}
	return res
}

// TestPostRemovesUpsStateOnceItsHostIsGone: `up` kept a host in the action,
// no `down` ran, and the up step's post step tore the host down at the
// job's end with a clean leak check. It ends the leg in --out as `down`
// would: host/ (the client key, known_hosts, host.json) is gone, so --out
// keeps no secret; result.json and summary.md say how the leg ended; the
// job summary shows the row posted as the commit status; and a later leg
// into the same --out (a self-hosted runner's kept workspace) is not
// refused for a host that no longer exists.
func TestPostRemovesUpsStateOnceItsHostIsGone(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	out := filepath.Join(t.TempDir(), "out")
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	pout, code, summary := upThenPost(t, []string{"INPUT_GITHUB-TOKEN=" + ghToken, "INPUT_GITHUB-API-URL=" + gh.URL()}, suite, out, "")
	if code != 0 {
		t.Fatalf("post exit %d, want 0\n%s", code, pout)
	}
	if _, err := os.Stat(filepath.Join(out, "host")); !errors.Is(err, fs.ErrNotExist) {
		entries, _ := os.ReadDir(filepath.Join(out, "host"))
		t.Errorf("%s still there after a clean teardown (stat: %v, holding %v)\n%s", filepath.Join(out, "host"), err, entries, pout)
	}
	filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.Contains(readFile(t, path), "PRIVATE KEY") {
			t.Errorf("%s holds a private key after the host is gone", path)
		}
		return nil
	})

	const note = "host kept by up, torn down at the job's end; the suite was not run"
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "error" || !strings.Contains(desc, note) {
		t.Errorf("status after the post step %q %q, want error with %q\n%s", st, desc, note, pout)
	}
	if row := rowWith(summary, note); !strings.Contains(row, "| ✅ | — |") {
		t.Errorf("post's job summary has no final row (preflight ✅, live cycle —, %q), only:\n%s", note, summary)
	}
	if !strings.Contains(summary, "leak check: nothing tagged with this run is left") {
		t.Errorf("post's job summary lost the teardown:\n%s", summary)
	}
	res := readResult(t, out)
	if res.Outcome != verify.Errored || res.Ended == nil || res.Ended.Note != note {
		t.Errorf("result.json: outcome %q, ended %+v; want error, ended with %q", res.Outcome, res.Ended, note)
	}
	if p := res.Phase(verify.PhaseTeardown); p == nil || p.Status != "pass" {
		t.Errorf("result.json's teardown phase %+v, want the post step's, passed", p)
	}
	if md := readFile(t, filepath.Join(out, "summary.md")); rowWith(md, note) == "" {
		t.Errorf("summary.md has no row with %q:\n%s", note, md)
	}

	// The next leg into the same --out starts.
	tmp := t.TempDir()
	next := runBin(t, cmdEnv(t), "run", "--provider", "local", "--suite", suite, "--out", out,
		"--local-state-dir", filepath.Join(tmp, "state"))
	if next.code != 0 {
		t.Errorf("a run into the --out the post step cleared: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", next.code, next.stdout, next.stderr)
	}
}

// postKeepUser is the suite user of TestPostKeepsUpsStateWhenItsTeardownFails:
// one up creates and the post step fails to delete, a name no other test
// uses.
const postKeepUser = "mvr-postkeep"

// TestPostKeepsUpsStateWhenItsTeardownFails: the up step's post step fails
// to tear the kept host down (userdel failing, as when another tool holds
// the account files' lock: a stand-in earlier in its PATH). The kept host's
// state stays in --out, as the post step says, and `down` tears the host
// down from it; result.json and the job summary end the leg with the
// failed teardown.
func TestPostKeepsUpsStateWhenItsTeardownFails(t *testing.T) {
	t.Parallel()
	testhost.RequireRoot(t)
	removeUser := func() { exec.Command("userdel", "-r", "-f", postKeepUser).Run() }
	removeUser() // left by an earlier run of this test killed before its cleanup
	t.Cleanup(removeUser)
	out := filepath.Join(t.TempDir(), "out")
	suite := writeSuite(t, "user: "+postKeepUser+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	pout, code, summary := upThenPost(t, nil, suite, out, failingUserdelPath(t))
	if code != 1 {
		t.Fatalf("post with userdel failing: exit %d, want 1\n%s", code, pout)
	}
	if _, err := user.Lookup(postKeepUser); err != nil {
		t.Fatalf("user %s gone although userdel failed: the fault was not injected (%v)\n%s", postKeepUser, err, pout)
	}
	for _, name := range []string{"host.json", "id_ed25519"} {
		if _, err := os.Stat(filepath.Join(out, "host", name)); err != nil {
			t.Errorf("the post step whose teardown failed removed %s, which a later down needs: %v\n%s", name, err, pout)
		}
	}
	stays := "the kept host's state stays in " + filepath.Join(out, "host")
	if !strings.Contains(pout, stays) || !strings.Contains(summary, stays) {
		t.Errorf("the post step did not say %q (output, job summary):\n%s\n%s", stays, pout, summary)
	}
	const note = "host kept by up; the suite was not run; the teardown at the job's end failed (see the job)"
	if rowWith(summary, note) == "" {
		t.Errorf("post's job summary has no final row with %q:\n%s", note, summary)
	}
	res := readResult(t, out)
	if res.Outcome != verify.Errored || res.Ended == nil || res.Ended.Note != note {
		t.Errorf("result.json: outcome %q, ended %+v; want error, ended with %q", res.Outcome, res.Ended, note)
	}
	if p := res.Phase(verify.PhaseTeardown); p == nil || p.Status != "fail" || !strings.Contains(p.Error, "userdel") {
		t.Errorf("result.json's teardown phase %+v, want the post step's, failed on userdel", p)
	}

	down := runBin(t, cmdEnv(t), "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down from the state the post step kept: exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if _, err := user.Lookup(postKeepUser); err == nil {
		t.Errorf("user %s still exists after down", postKeepUser)
	}
	if _, err := os.Stat(filepath.Join(out, "host")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there after down's clean teardown (stat: %v)", filepath.Join(out, "host"), err)
	}
}
