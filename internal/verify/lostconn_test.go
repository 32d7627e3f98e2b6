package verify

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// droppedStep prints the marker with its pid, then sleeps as that pid: a
// step that runs when the connection drops, and outlives it on the host
// as a real step's processes would.
const droppedStep = "echo STEPSTARTED pid=$$; exec sleep 600"

var stepPidRE = regexp.MustCompile(`STEPSTARTED pid=(\d+)\n`)

// runUntilStepStarts runs plan in the background and returns, once the
// dropped step has started, its pid on the host (this machine) and the
// run's result channel. The step's process is killed when the test ends,
// whatever the teardown did.
func runUntilStepStarts(t *testing.T, plan Plan, out *watchWriter) (int, <-chan *Result) {
	t.Helper()
	done := make(chan *Result, 1)
	go func() { done <- Run(context.Background(), plan) }()
	for {
		if m := stepPidRE.FindStringSubmatch(out.String()); m != nil {
			pid, _ := strconv.Atoi(m[1])
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			return pid, done
		}
		select {
		case res := <-done:
			t.Fatalf("the run ended before its step started: %s (%s)\n%s", res.Outcome, res.FirstFailure, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// processGone says whether pid has exited (a zombie counts: it runs no
// more).
func processGone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}

// checkLostSuite checks what a suite whose connection dropped during its
// first step reads as: the step without a verdict, saying the connection
// to the host was lost; the next step not run (not failed); the leg
// errored, not failed; its live cycle ❌ with the note naming the lost
// connection, and no other column failed.
func checkLostSuite(t *testing.T, res *Result, addr string, out *watchWriter) {
	t.Helper()
	if res.Outcome != Errored {
		t.Errorf("outcome %s (%s), want %s: a lost connection is the infrastructure failing, not the suite\n%s", res.Outcome, res.FirstFailure, Errored, out)
	}
	if len(res.Steps) != 2 {
		t.Fatalf("steps %+v, want both listed", res.Steps)
	}
	long, after := res.Steps[0], res.Steps[1]
	if long.Status != matrix.Unknown || !strings.HasPrefix(long.Reason, "SSH connection to "+addr+" lost during step: ") {
		t.Errorf("the interrupted step: %s %q; want unknown, \"SSH connection to %s lost during step: …\"", long.Status, long.Reason, addr)
	}
	if !strings.Contains(long.Output, "STEPSTARTED") {
		t.Errorf("the interrupted step's output before the drop is lost: %q", long.Output)
	}
	if after.Status != matrix.NotRun || after.Reason != "SSH connection lost" {
		t.Errorf("the step after the drop: %s %q; want not run, \"SSH connection lost\"", after.Status, after.Reason)
	}
	suite := res.Phase(PhaseSuite)
	if suite == nil || !strings.Contains(suite.Error, "SSH connection to "+addr+" lost") || strings.Contains(suite.Error, "steps failed") {
		t.Errorf("suite phase %+v; want its error to say the connection was lost, not that steps failed", suite)
	}
	if !strings.Contains(res.FirstFailure, "lost") || !strings.Contains(res.ConnectionLost, addr) {
		t.Errorf("first failure %q, connection lost %q; want both to name the lost connection", res.FirstFailure, res.ConnectionLost)
	}
	row := res.Row()
	if live := row.Cell(matrix.LiveCycle); live.Status != matrix.Fail {
		t.Errorf("live cycle %+v, want ❌", live)
	}
	if !strings.Contains(row.Notes, "SSH connection to "+addr+" lost") {
		t.Errorf("notes %q do not say the connection was lost", row.Notes)
	}
	if s := row.Cell(matrix.SeccompProbe); s.Status == matrix.Fail {
		t.Errorf("seccomp probe %+v: a step that never ran reads as failed", s)
	}
	if strings.Contains(out.String(), "open session") {
		t.Errorf("a step or cleanup was tried on the lost connection:\n%s", out)
	}
}

// sshLegOn is sshLeg (a login user with sudo) with its test host, whose
// connections the test drops.
func sshLegOn(t *testing.T, steps ...Step) (Plan, *testhost.Host) {
	t.Helper()
	return sshLegHost(t, true, steps...)
}

// TestDroppedConnectionOnSSHHostIsRedialedForCleanups drops the SSH
// connection (sshd's per-connection processes killed) while a step runs
// on a host the run did not create (the ssh provider, where nothing is
// destroyed): the step says the connection to the host was lost, the
// next is not run, the leg is errored; and the host is still left as it
// was over a fresh connection with the same keys: the logs collected,
// the step's process stopped, the suite's user (passwordless sudo)
// removed.
func TestDroppedConnectionOnSSHHostIsRedialedForCleanups(t *testing.T) {
	plan, h := sshLegOn(t,
		Step{Name: "long", Run: droppedStep, Column: matrix.LiveCycle},
		Step{Name: "after", Run: "true", Column: matrix.SeccompProbe},
	)
	if plan.Info.Creates {
		t.Fatal("the ssh provider creates its hosts? This test is about one it does not")
	}
	out := newWatchWriter("\x00") // polled for the step's pid
	plan.Out = out
	pid, done := runUntilStepStarts(t, plan, out)
	if !userExists(sshSuiteUser) {
		t.Fatalf("the run did not create the suite's user %s", sshSuiteUser)
	}
	if _, err := h.DropConnections(); err != nil {
		t.Fatal(err)
	}
	res := <-done

	checkLostSuite(t, res, h.Addr()+":"+strconv.Itoa(h.Port()), out)
	if !strings.Contains(out.String(), "lost: closed by the host or the network (EOF); reconnected") {
		t.Errorf("the run does not say it reconnected:\n%s", out)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed over the fresh connection\n%s", td, out)
	}
	checkCollected(t, res, "kernel log", "journal")
	if userExists(sshSuiteUser) {
		t.Errorf("the suite's user %s (passwordless sudo) is still on the host after the teardown\n%s", sshSuiteUser, out)
	}
	for _, f := range []string{sudoersDropIn(sshSuiteUser), createdUserMarker(sshSuiteUser)} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s is still there after the teardown", f)
		}
	}
	if !processGone(pid) {
		t.Errorf("the interrupted step's process %d still runs after the teardown\n%s", pid, out)
	}
}

// TestDroppedConnectionRedialRefusedNamesTheLostConnection: when the
// redial fails too (another machine answers on the host's address now,
// presenting another host key), the host-side cleanups are not done and
// their failure says the connection was lost and reconnecting failed;
// nothing is tried over the dead connection.
func TestDroppedConnectionRedialRefusedNamesTheLostConnection(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p,
		Step{Name: "long", Run: droppedStep, Column: matrix.LiveCycle},
		Step{Name: "after", Run: "true", Column: matrix.SeccompProbe},
	)
	// A host-side cleanup whose effect is seen on disk: the upload's
	// removal, on a host the provider did not create.
	dir := hostDir(t) // the upload is testUser's
	src := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(src, []byte("uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "payload")
	plan.Uploads = []Upload{{Src: src, Dst: dst}}
	out := newWatchWriter("\x00")
	plan.Out = out
	// Once the suite has stopped on the lost connection, and before
	// anything redials, another host takes the address.
	var once sync.Once
	plan.OnProgress = func(r *Result) {
		if r.ConnectionLost == "" {
			return
		}
		once.Do(func() {
			h := p.onlyHost(t)
			if err := h.Stop(context.Background()); err != nil {
				t.Errorf("stop the host: %v", err)
			}
			testhost.Start(t, testhost.Options{Addr: h.Addr(), Port: h.Port()})
		})
	}
	_, done := runUntilStepStarts(t, plan, out)
	if _, err := os.Stat(dst); err != nil {
		t.Fatalf("the upload is not on the host while the step runs: %v", err)
	}
	h := p.onlyHost(t)
	addr := h.Addr() + ":" + strconv.Itoa(h.Port())
	if _, err := h.DropConnections(); err != nil {
		t.Fatal(err)
	}
	res := <-done

	checkLostSuite(t, res, addr, out)
	td := res.Phase(PhaseTeardown)
	if td == nil || td.Status != matrix.Fail {
		t.Fatalf("teardown %+v, want failed: the upload could not be removed\n%s", td, out)
	}
	for _, want := range []string{"the upload " + dst + " left on the host", "SSH connection to " + addr + " lost", "reconnecting failed", "host key mismatch"} {
		if !strings.Contains(td.Error, want) {
			t.Errorf("teardown error %q lacks %q", td.Error, want)
		}
	}
	if len(res.Collected) != 1 || res.Collected[0].Name != "host logs" || !strings.Contains(res.Collected[0].Text, "not collected: SSH connection to "+addr+" lost") {
		t.Errorf("collected %+v; want one note that the host's logs were not collected, naming the lost connection", res.Collected)
	}
	if _, err := os.Stat(dst); err != nil {
		t.Errorf("the upload is gone (%v), yet the teardown says it could not remove it", err)
	}
	if res.Outcome != Errored {
		t.Errorf("outcome %s, want %s", res.Outcome, Errored)
	}
}

// TestConnectionLostBeforeTheStepsErrorsTheLeg drops the connection after
// the ready phase, before the suite's uploads: the upload says the
// connection was lost, every step is listed not run, and the leg is
// errored with no step failed.
func TestConnectionLostBeforeTheStepsErrorsTheLeg(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p,
		Step{Name: "one", Run: "true", Column: matrix.LiveCycle},
		Step{Name: "two", Run: "true", Column: matrix.SeccompProbe},
	)
	src := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(src, []byte("uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := hostDir(t) // the upload is testUser's
	plan.Uploads = []Upload{{Src: src, Dst: filepath.Join(dir, "payload")}}
	out := newWatchWriter("\x00")
	plan.Out = out
	var once sync.Once
	plan.OnProgress = func(r *Result) {
		if r.Phase(PhaseReady) != nil && r.Phase(PhaseSuite) == nil {
			once.Do(func() {
				if _, err := p.onlyHost(t).DropConnections(); err != nil {
					t.Error(err)
				}
			})
		}
	}
	res := Run(context.Background(), plan)

	if res.Outcome != Errored {
		t.Errorf("outcome %s (%s), want %s\n%s", res.Outcome, res.FirstFailure, Errored, out)
	}
	if len(res.Steps) != 2 {
		t.Fatalf("steps %+v, want both listed not run", res.Steps)
	}
	for _, s := range res.Steps {
		if s.Status != matrix.NotRun || s.Reason != "SSH connection lost" {
			t.Errorf("step %s: %s %q; want not run, \"SSH connection lost\"", s.Name, s.Status, s.Reason)
		}
	}
	if suite := res.Phase(PhaseSuite); suite == nil || !strings.Contains(suite.Error, "lost") || !strings.Contains(suite.Error, "not run: one, two") {
		t.Errorf("suite phase %+v; want its error to say the connection was lost and the steps were not run", suite)
	}
}
