package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// TestRunnerCancelOnSSHHostUndoesTheRun cancels an Actions main step as
// GitHub's runner does (SIGINT, SIGTERM 7.5 s later, a kill 2.5 s after
// that: see cancelAsRunner) while its step runs on an existing host (the
// ssh provider): the step ignores TERM and has started a child in a
// session of its own that ignores TERM and HUP, as in the audit. Killing
// the step takes a moment on the host; that must not be read as a dead
// host. The connection stays usable, so main's own teardown removes what
// the run made there: the suite user it created with its sudoers drop-in,
// the step's processes and the probe's work directory; the teardown
// passes, leaving the post step nothing to undo; and main exits by itself,
// before the runner's kill. It logs in as a user with passwordless sudo
// and Debian's default startup files, as on a cloud image (ubuntu,
// admin): each SSH command starts the login user's shell, which reads its
// .bashrc, and root's on a machine running these tests may take seconds
// (a version manager's init), which is that machine's, not the run's.
func TestRunnerCancelOnSSHHostUndoesTheRun(t *testing.T) {
	testhost.RequireRoot(t)
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	login := "mvmv-sshlogin"
	h := testhost.Start(t, testhost.Options{Users: []testhost.User{{Name: login, AuthorizedKeys: []string{authorized}, Sudo: true}}})
	created := freshRunCreatedUser(t, "mvmv-sshterm")
	suiteUser, sudoers, mark := created.Name, created.Sudoers, created.Mark
	// Sleeps no other process on the machine has: one in the step, one
	// in the child that left the step's session.
	n := fmt.Sprintf("%d.%d", 50000+os.Getpid()%10000, time.Now().UnixNano()%1000000)
	inStep, detached := "sleep 1"+n, "sleep 2"+n
	t.Cleanup(func() {
		for _, s := range []string{inStep, detached} {
			for _, p := range processesMentioning(t, s) {
				pid, _, _ := strings.Cut(p, ":")
				exec.Command("kill", "-KILL", pid).Run()
			}
		}
	})
	step := `trap '' TERM; (setsid sh -c 'trap "" TERM HUP; exec ` + detached + `' &); echo started; ` + inStep
	stepJSON, _ := json.Marshal(step)
	suite := writeSuite(t, "user: "+suiteUser+"\nsteps:\n  - name: stubborn\n    run: "+string(stepJSON)+"\n")

	dir := t.TempDir()
	runner := providertest.NewRunner(t, "")
	out := filepath.Join(dir, "out")
	env := cmdEnv(t, append(append(runner.Env(), "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1",
		"INPUT_PROVIDER=ssh", "INPUT_SUITE="+suite, "INPUT_OUT="+out,
		"INPUT_SSH-HOST="+h.Addr(), fmt.Sprintf("INPUT_SSH-PORT=%d", h.Port()), "INPUT_SSH-USER="+login,
		"INPUT_SSH-PRIVATE-KEY="+string(keyPEM), "INPUT_SSH-KNOWN-HOST="+h.KnownHostsLine()), thisHostLane().laneInputs()...)...)

	main := startBin(t, env)
	main.waitUntil("the suite's step", func() bool {
		return len(processesMentioning(t, inStep)) > 0 && len(processesMentioning(t, detached)) > 0
	}, nil)

	// What the run made on the host, as the state records it for post.
	state := runner.State(t)
	var pending struct {
		Cleanups []struct{ Command string } `json:"cleanups"`
	}
	if err := json.Unmarshal([]byte(state["host-cleanups"]), &pending); err != nil {
		t.Fatalf("state host-cleanups %q: %v", state["host-cleanups"], err)
	}
	workDir := ""
	for _, c := range pending.Cleanups {
		if d, ok := strings.CutPrefix(c.Command, "rm -rf "); ok {
			workDir = strings.Trim(d, "'")
		}
	}
	if !strings.HasPrefix(workDir, "/tmp/mvm-verify-") {
		t.Fatalf("no probe work directory among the pending host cleanups: %+v", pending.Cleanups)
	}
	left := map[string]string{"sudoers drop-in": sudoers, "created-user mark": mark, "probe work directory": workDir}
	for what, path := range left {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s %s missing while the step runs: %v", what, path, err)
		}
	}
	if _, err := user.Lookup(suiteUser); err != nil {
		t.Fatalf("the run did not create the suite user: %v", err)
	}

	sent := main.cancelAsRunner()
	t.Logf("the runner sent %v", sent)
	output := main.out.String()
	if slices.Contains(sent, syscall.SIGKILL) {
		t.Errorf("main was still running when the runner's grace ran out (it sent %v): its teardown does not fit the cancel budget\n%s", sent, output)
	}
	if ws, ok := main.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Errorf("main was killed by %v instead of tearing down", ws.Signal())
	}
	if main.cmd.ProcessState.ExitCode() == 0 {
		t.Errorf("exit 0 after SIGTERM, want non-zero")
	}
	if _, err := user.Lookup(suiteUser); err == nil {
		t.Errorf("user %s (passwordless sudo) still exists after main", suiteUser)
	}
	for what, path := range left {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s %s left after main (stat: %v)", what, path, err)
		}
	}
	for _, s := range []string{inStep, detached} {
		if p := processesMentioning(t, s); len(p) > 0 {
			t.Errorf("the step's processes still run after main: %v", p)
		}
	}
	if p := phaseStatus(t, filepath.Join(out, "result.json"), "teardown"); p != "pass" {
		t.Errorf("teardown phase %q, want pass\n%s", p, output)
	}
	if strings.Contains(output, "teardown failed") || strings.Contains(output, "connection was closed") {
		t.Errorf("the teardown did not undo the run over a live connection:\n%s", output)
	}
	state = runner.State(t)
	pending.Cleanups = nil
	if err := json.Unmarshal([]byte(state["host-cleanups"]), &pending); err != nil {
		t.Fatalf("state host-cleanups %q: %v", state["host-cleanups"], err)
	}
	if len(pending.Cleanups) != 0 {
		t.Errorf("host cleanups left for post after main's teardown: %+v\n%s", pending.Cleanups, output)
	}
}
