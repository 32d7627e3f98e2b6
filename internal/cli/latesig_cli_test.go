package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestCtrlCDuringTheTeardownAtTheTerminalIsNoPass: at a terminal, a
// Ctrl-C while the teardown waits (here the local provider's destroy, for
// the machine's lock, which the test holds) cuts the teardown to the
// cancel budget (shortened here by MVM_VERIFY_CANCEL_BUDGET; the lock is
// held past it). No post step follows at a terminal, so what it could not
// delete stays: the run must not exit 0, its verdict line says the
// teardown was cut short, and its last line says the teardown is not
// finished and how to finish it. That command then does.
func TestCtrlCDuringTheTeardownAtTheTerminalIsNoPass(t *testing.T) {
	testhost.RequireRoot(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	// The step waits for the gate, so the test holds the lock before the
	// teardown's destroy asks for it. Both in a directory the suite's
	// user, not root, can reach.
	shared := openTempDir(t, "mvm-cli-shared-")
	reached, gate := filepath.Join(shared, "reached"), filepath.Join(shared, "gate")
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: gated\n    run: touch "+reached+"; while [ ! -e "+gate+" ]; do sleep 0.05; done\n    column: Live cycle\n")
	// A budget of 1ns has the cut teardown's time over as soon as the
	// signal is taken, before the run says it took it: the test lets go of
	// the lock on that line, so the destroy gets it too late on a machine
	// of any speed, with no wait of the test's own.
	env := cmdEnv(t, "MVM_VERIFY_CANCEL_BUDGET=1ns")
	args := []string{"run", "--provider", "local", "--suite", suite, "--out", out,
		"--local-state-dir", filepath.Join(dir, "state"), "--timeout-minutes", "10"}
	leg := startBin(t, env, args...)
	t.Cleanup(func() { leg.cmd.Process.Kill() }) //nolint:errcheck // gone already when the test got that far
	waitFor := func(what string, done func() bool) { t.Helper(); leg.waitUntil(what, done, nil) }
	waitFor("running the suite", func() bool { _, err := os.Stat(reached); return err == nil })

	lockPath, unlock := holdMachineLock(t)
	defer unlock()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("its destroy, waiting for the local provider's lock", func() bool {
		return strings.Contains(leg.out.String(), "==> teardown") && holdsOpen(leg.cmd.Process.Pid, lockPath)
	})
	leg.signal(syscall.SIGINT)
	waitFor("taking the Ctrl-C in its teardown", func() bool {
		return strings.Contains(leg.out.String(), "!! cancelled during the teardown")
	})
	// The local provider waits for its lock whatever its context says:
	// the cut teardown's time, counted from the signal before that line,
	// is over by now (see the budget above), so the destroy gets the lock
	// too late.
	unlock()
	select {
	case <-leg.exited:
	case <-time.After(time.Minute):
		t.Fatalf("the run did not end within a minute of the Ctrl-C, its cancel budget being 1ns\n%s", leg.out.String())
	}
	unlock()
	text := leg.out.String()

	if code := leg.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d, want 1: the teardown was cut short, and nothing else finishes it at a terminal\n%s", code, text)
	}
	if !strings.Contains(text, "⏳ teardown cut short") {
		t.Fatalf("the teardown was not cut short by the Ctrl-C; the test did not do what it is about:\n%s", text)
	}
	if !strings.Contains(text, thisHostLane().display("local")+": verified, but the teardown was cut short\n") {
		t.Errorf("the verdict line does not say the teardown was cut short:\n%s", text)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "the teardown is not finished") || !strings.Contains(last, "mvm-verify down --out "+out) {
		t.Errorf("last line %q, want it to say the teardown is not finished and give `mvm-verify down --out %s`\n%s", last, out, text)
	}

	// The command it gives finishes the teardown.
	r := runBin(t, cmdEnv(t), "down", "--out", out)
	if r.code != 0 {
		t.Errorf("down after the cut teardown: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
