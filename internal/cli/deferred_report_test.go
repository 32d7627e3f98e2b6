package cli_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// awsStatuses are the mvm-verify/aws statuses on the head, oldest first.
func awsStatuses(gh *fakegh.Server) []fakegh.Status {
	var out []fakegh.Status
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == "mvm-verify/aws" {
			out = append(out, st)
		}
	}
	return out
}

// TestDeferredTeardownLeavesTheLegToPost: main's teardown issues the
// deletes but runs out of its budget before EC2 confirms them (its polls
// are longer than teardown-budget), so it hands the teardown to the post
// step (deferred). Main's final status is posted — the suite passed, so it
// is green — but the leg is not settled: main must not mark it reported,
// and the post step, whose sweep and leak check are the leg's real end,
// posts the row again with what it found. Here post finds a leak (a
// security group whose delete EC2 accepts but does not do), which must turn
// the leg's status from green to failure.
func TestDeferredTeardownLeavesTheLegToPost(t *testing.T) {
	srv := awsFake(t, "")
	// EC2 accepts the security group's delete but does not do it: a leak
	// main's deferred teardown cannot see, and the post step's leak check
	// finds.
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Pretend: true})
	gh := fakeGitHub(t)
	dir := t.TempDir()
	stateFile := emptyFile(t, "state")
	out := filepath.Join(dir, "out")
	suite := writeSuite(t, "user: root\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"GITHUB_STATE="+stateFile, "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake-secret",
		"INPUT_PROVIDER=aws", "INPUT_AWS-ENDPOINT="+srv.URL, "INPUT_REGION=us-east-1", "INPUT_SSH-SOURCE-CIDR=127.0.0.1/32",
		"INPUT_SUITE="+suite, "INPUT_OUT="+out,
		// Destroy sweeps a new run's region until three sweeps in a row
		// find nothing, a poll apart: two polls of 4 s cannot fit a 5 s
		// budget, so the teardown is deferred whatever else takes time.
		"INPUT_TEARDOWN-BUDGET=5s", "MVM_VERIFY_POLL_INTERVAL=4s"), awsIsolated(t)...)...)
	main := runBin(t, env)
	main.out = out
	if main.code != 0 {
		t.Fatalf("main: exit %d\nstdout:\n%s\nstderr:\n%s", main.code, main.stdout, main.stderr)
	}
	if res := main.resultJSON(t); res["teardown_deferred"] != true {
		t.Fatalf("main's teardown was not deferred (teardown_deferred %v): the test shows nothing\n%s", res["teardown_deferred"], main.stdout)
	}
	byMain := awsStatuses(gh)
	if len(byMain) == 0 || byMain[len(byMain)-1].State != "success" {
		t.Fatalf("main's final status: %+v, want success (the suite passed)\n%s", byMain, main.stdout)
	}
	state := parseFileCommands(t, stateFile)
	if state["reported"] != "" || state["torn-down"] != "" {
		t.Errorf("state after main: reported %q torn-down %q; want neither: the post step settles a deferred teardown",
			state["reported"], state["torn-down"])
	}

	// The post step, with short polls: it sweeps until it gives up on the
	// group, then its leak check finds it.
	postEnv, _ := runnerPostEnv(t, env, state)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = append(postEnv, "MVM_VERIFY_POLL_INTERVAL=50ms")
	pout, err := post.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Errorf("post: %v, want a failure for the leak\n%s", err, pout)
	}
	if !strings.Contains(string(pout), "leak") {
		t.Errorf("post's output does not report the leak:\n%s", pout)
	}
	all := awsStatuses(gh)
	if len(all) <= len(byMain) {
		t.Fatalf("the post step posted no status after main's (%d before, %d after): the leak it found leaves the leg green\n%s",
			len(byMain), len(all), pout)
	}
	if last := all[len(all)-1]; last.State != "failure" {
		t.Errorf("last status after post %q %q, want failure: post's teardown left a leak\n%s", last.State, last.Description, pout)
	}
}
