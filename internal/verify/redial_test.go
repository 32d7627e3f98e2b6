package verify

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	sshprovider "github.com/tinylabscom/mvm-verify/providers/ssh"
)

// TestRedialCutShortInCollectIsRetriedByHostCleanups: the connection to
// an ssh host (one the run did not create) drops during a step, and the
// host does not answer while the collect phase redials; a signal then
// ends that redial. The host answers again, and the host cleanups, with
// the cancel budget of their own,
// reconnect and remove the suite's user (passwordless sudo): collect's
// redial, ended by its ctx, is not what they are handed.
func TestRedialCutShortInCollectIsRetriedByHostCleanups(t *testing.T) {
	testhost.RequireRoot(t)
	removeUser(t, sshSuiteUser)
	t.Cleanup(func() {
		removeUser(t, sshSuiteUser)
		removeUser(t, sshLoginUser)
	})
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	users := []testhost.User{{Name: sshLoginUser, AuthorizedKeys: []string{authorized}, Sudo: true}}
	h := testhost.Start(t, testhost.Options{Users: users})
	in := map[string]string{
		"ssh-host": h.Addr(), "ssh-port": strconv.Itoa(h.Port()), "ssh-user": sshLoginUser,
		"ssh-private-key": string(keyPEM), "ssh-known-host": h.HostKey(),
	}
	entry := sshprovider.Entry()
	p, err := entry.New(providers.Options{Input: func(name string) string { return in[name] }})
	if err != nil {
		t.Fatal(err)
	}
	plan := testPlan(p,
		Step{Name: "long", Run: droppedStep, Column: matrix.LiveCycle},
		Step{Name: "after", Run: "true", Column: matrix.SeccompProbe},
	)
	plan.Identity.RunID = strconv.FormatInt(time.Now().UnixNano(), 10)
	plan.User = sshSuiteUser
	plan.Lane = hostLane()
	plan.Info = entry.Info
	plan.ProbeBinary = testProbeBinary(t)
	// Room for the host to come back within the cancel budget on a
	// loaded machine; the test is about whether the cleanups redial, not
	// how fast.
	plan.CancelBudget = 60 * time.Second
	out := newWatchWriter("==> " + PhaseCollect)
	plan.Out = out
	// Once the suite has stopped on the lost connection, the host stops
	// answering new connections (its sshd listener frozen: the machine
	// and its accounts stay as they are), so collect's redial waits on
	// it until its ctx ends.
	var once sync.Once
	plan.OnProgress = func(r *Result) {
		if r.ConnectionLost == "" {
			return
		}
		once.Do(func() {
			if err := syscall.Kill(h.Pid(), syscall.SIGSTOP); err != nil {
				t.Errorf("freeze the host's sshd %d: %v", h.Pid(), err)
				return
			}
			t.Cleanup(func() { syscall.Kill(h.Pid(), syscall.SIGCONT) })
			waitProcessStopped(t, h.Pid())
		})
	}

	ctx, signal := context.WithCancel(context.Background())
	defer signal()
	done := make(chan *Result, 1)
	go func() { done <- Run(ctx, plan) }()
	var pid int
	for pid == 0 {
		if m := stepPidRE.FindStringSubmatch(out.String()); m != nil {
			pid, _ = strconv.Atoi(m[1])
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			break
		}
		select {
		case res := <-done:
			t.Fatalf("the run ended before its step started: %s (%s)\n%s", res.Outcome, res.FirstFailure, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if !userExists(sshSuiteUser) {
		t.Fatalf("the run did not create the suite's user %s", sshSuiteUser)
	}
	if _, err := h.DropConnections(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-out.seen:
	case res := <-done:
		t.Fatalf("the run ended without collecting: %s (%s)\n%s", res.Outcome, res.FirstFailure, out)
	}
	// Collect is redialing a host that is down: the signal ends it.
	signal()
	// Only after collect has given up: the host answers again.
	var res *Result
	for res == nil && !strings.Contains(out.String(), "collect cancelled") {
		select {
		case res = <-done:
		case <-time.After(5 * time.Millisecond):
		}
	}
	if !strings.Contains(out.String(), "collect cancelled") {
		t.Fatalf("the run ended and collect was not cancelled: %s (%s)\n%s", res.Outcome, res.FirstFailure, out)
	}
	if err := syscall.Kill(h.Pid(), syscall.SIGCONT); err != nil {
		t.Fatalf("thaw the host's sshd: %v", err)
	}
	if res == nil {
		res = <-done
	}

	if len(res.Collected) != 1 || res.Collected[0].Name != "host logs" || !strings.Contains(res.Collected[0].Text, "not collected") {
		t.Errorf("collected %+v; want one note that the host's logs were not collected (collect's redial was cancelled)\n%s", res.Collected, out)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed over the fresh connection\n%s", td, out)
	}
	if userExists(sshSuiteUser) {
		t.Errorf("the suite's user %s (passwordless sudo) is still on the host: the host cleanups did not reconnect after collect's redial was cut short\n%s", sshSuiteUser, out)
	}
	if !processGone(pid) {
		t.Errorf("the interrupted step's process %d still runs after the teardown\n%s", pid, out)
	}
	if !strings.Contains(out.String(), "reconnected with the same keys") {
		t.Errorf("the run does not say it reconnected:\n%s", out)
	}
}

// waitProcessStopped waits until pid is in the stopped state: SIGSTOP
// takes effect once the process is next scheduled.
func waitProcessStopped(t *testing.T, pid int) {
	t.Helper()
	for range 10000 {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatalf("state of process %d: %v", pid, err)
		}
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && len(stat) > i+2 && stat[i+2] == 'T' {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("process %d did not stop after SIGSTOP", pid)
}
