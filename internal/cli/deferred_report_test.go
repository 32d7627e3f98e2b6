package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// awsStatuses are the aws leg's statuses on the head, oldest first: its
// context is mvm-verify/aws, or mvm-verify/aws-no-kvm where the leg runs
// the no-kvm lane (hostLane.laneInputs).
func awsStatuses(gh *fakegh.Server) []fakegh.Status {
	var out []fakegh.Status
	context := thisHostLane().context("aws")
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == context {
			out = append(out, st)
		}
	}
	return out
}

// TestDeferredTeardownLeavesTheLegToPost: main's teardown issues the
// deletes but runs out of time before EC2 confirms them (its polls are
// longer than the time it has), so it hands the teardown to the post step
// (deferred). Main's final status is posted, but the leg is not settled:
// main must not mark it reported, and the post step, whose sweep and leak
// check are the leg's real end, posts the row again with what it found.
// Here post finds a leak (a security group whose delete EC2 accepts but
// does not do), which must make the leg's status failure — for a suite
// that passed, a green status would otherwise stand over the leak. Main
// runs out of time two ways: its teardown-budget, after a passing suite;
// and the cancel budget, when the step is cancelled (SIGINT) mid-suite.
func TestDeferredTeardownLeavesTheLegToPost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, user string
		cancel     bool
	}{{"teardown budget", "mvmcdt", false}, {"cancelled", "mvmcdc", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			deferredTeardownLeavesTheLegToPost(t, tc.user, tc.cancel)
		})
	}
}

func deferredTeardownLeavesTheLegToPost(t *testing.T, user string, cancel bool) {
	// Before the fake, so what its host leaves of the user goes last.
	suiteUser := ownSuiteUser(t, user)
	srv := awsFake(t, "")
	// EC2 accepts the security group's delete but does not do it: a leak
	// main's deferred teardown cannot see, and the post step's leak check
	// finds.
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Pretend: true})
	gh := fakeGitHub(t)
	dir := t.TempDir()
	stateFile := emptyFile(t, "state")
	out := filepath.Join(dir, "out")
	// A sleep no other process on the machine has.
	sleep := fmt.Sprintf("sleep %d.%d", 20000+os.Getpid()%10000, time.Now().UnixNano()%1000000)
	// The least teardown-budget run accepts, a minute: the group whose
	// delete does nothing is listed at every sweep, so Destroy would sweep
	// its most, 12 times, 11 polls apart, and 11 polls of 8 s do not fit.
	step, budget, poll, wantMain := "echo hi", "1m", "8s", "success"
	if cancel {
		// Cancelled, the leg failed whatever its teardown.
		step, budget, poll, wantMain = sleep, "5m", "4s", "failure"
	}
	suite := writeSuite(t, "user: "+suiteUser+"\nsteps:\n  - name: hello\n    run: "+step+"\n    column: Live cycle\n")
	env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"GITHUB_STATE="+stateFile, "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake-secret",
		"INPUT_PROVIDER=aws", "INPUT_AWS-ENDPOINT="+srv.URL, "INPUT_REGION=us-east-1", "INPUT_SSH-SOURCE-CIDR=127.0.0.1/32",
		"INPUT_SUITE="+suite, "INPUT_OUT="+out,
		// Destroy sweeps a poll apart and begins no poll that would end
		// after its deadline: its polls fit neither the 1 m
		// teardown-budget nor the 7 s a cancel leaves, so the teardown is
		// deferred whatever else takes time.
		"INPUT_TEARDOWN-BUDGET="+budget, "MVM_VERIFY_POLL_INTERVAL="+poll), append(awsIsolated(t), thisHostLane().laneInputs()...)...)...)
	mainOut := ""
	if cancel {
		t.Cleanup(func() {
			for _, p := range processesMentioning(t, sleep) {
				pid, _, _ := strings.Cut(p, ":")
				exec.Command("kill", "-KILL", pid).Run()
			}
		})
		main := startBin(t, env)
		main.waitUntil("the suite's step", func() bool { return len(processesMentioning(t, sleep)) > 0 }, nil)
		// SIGINT, as the runner's cancel begins, but no kill after it:
		// main's final report must get through for the test to show
		// anything, and with the test's 4 s polls the comment's settle
		// waits alone outlast the runner's grace.
		main.signal(syscall.SIGINT)
		select {
		case <-main.exited:
		case <-time.After(3 * time.Minute):
			main.kill()
			t.Fatalf("main did not end after SIGINT\n%s", main.out.String())
		}
		mainOut = main.out.String()
	} else {
		main := runBin(t, env)
		mainOut = main.stdout + main.stderr
		if main.code != 0 {
			t.Fatalf("main: exit %d\n%s", main.code, mainOut)
		}
	}
	res := result{out: out, stdout: mainOut}.resultJSON(t)
	if res["teardown_deferred"] != true {
		t.Fatalf("main's teardown was not deferred (teardown_deferred %v): the test shows nothing\n%s", res["teardown_deferred"], mainOut)
	}
	byMain := awsStatuses(gh)
	if len(byMain) == 0 || byMain[len(byMain)-1].State != wantMain {
		t.Fatalf("main's final status: %+v, want %s\n%s", byMain, wantMain, mainOut)
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
		t.Fatalf("the post step posted no status after main's (%d before, %d after): the leak it found is not in the leg's status\n%s",
			len(byMain), len(all), pout)
	}
	if last := all[len(all)-1]; last.State != "failure" {
		t.Errorf("last status after post %q %q, want failure: post's teardown left a leak\n%s", last.State, last.Description, pout)
	}
}
