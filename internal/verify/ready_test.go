package verify

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// stuckProvider boots real sshd test hosts but hands the cycle a host that
// never becomes ready: with closedPort, the address of a port nothing
// listens on; with marker, the real host with a ready marker that never
// appears.
type stuckProvider struct {
	*hostProvider
	closedPort int
	marker     string
}

func (p stuckProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	h, err := p.hostProvider.Create(ctx, req, j)
	if err != nil {
		return nil, err
	}
	if p.closedPort != 0 {
		h.Port = p.closedPort
	}
	h.ReadyMarker = p.marker
	return h, nil
}

// closedPort is a loopback port that was just listened on and closed, so a
// connection to it is refused.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// readyTimedOut checks a leg whose ready phase ran out of ready-timeout:
// the first failure names the input and its value and what was awaited,
// nothing after ready ran, and the host was still destroyed.
func readyTimedOut(t *testing.T, p *hostProvider, res *Result, limit string, awaited ...string) {
	t.Helper()
	pr := res.Phase(PhaseReady)
	if pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("ready %+v, want failed", pr)
	}
	t.Logf("first failure: %s", res.FirstFailure)
	for _, want := range append([]string{"ready: timed out", "ready-timeout (" + limit + ")"}, awaited...) {
		if !strings.Contains(res.FirstFailure, want) {
			t.Errorf("first failure %q lacks %q", res.FirstFailure, want)
		}
	}
	if strings.Contains(res.FirstFailure, "context deadline exceeded") {
		t.Errorf("first failure %q reads as a bare deadline", res.FirstFailure)
	}
	if res.Outcome != Errored {
		t.Errorf("outcome %s, want errored (not the overall timeout)", res.Outcome)
	}
	if res.Phase(PhaseSuite) != nil {
		t.Errorf("the suite ran after ready failed: %+v", res.Phases)
	}
	p.mu.Lock()
	destroys := append([]destroyCall(nil), p.destroys...)
	p.mu.Unlock()
	if len(destroys) == 0 || destroys[0].err != nil {
		t.Errorf("destroy calls %+v, want one with a live context", destroys)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
}

// A host whose SSH port never answers fails the ready phase at
// ready-timeout, naming it, and is torn down.
func TestReadyTimeoutOnAClosedPort(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	port := closedPort(t)
	plan := testPlan(stuckProvider{hostProvider: hp, closedPort: port}, Step{Name: "never", Run: "true"})
	plan.ReadyTimeout = 300 * time.Millisecond
	// Without the ready limit the leg would end here instead, naming
	// timeout-minutes: a failure, not a hang. Far off, so that on a
	// loaded machine the collect and teardown after the ready failure do
	// not reach it and turn the verdict into a timeout.
	plan.Timeout = 30 * time.Minute
	// Inputs named as for an existing host: but this provider created the
	// host (it recorded it), so SSH not getting in is a failed leg, not
	// one that could not start.
	plan.HostInputs = HostInputs{Host: "ssh-host", Port: "ssh-port", User: "ssh-user"}
	res := Run(context.Background(), plan)
	readyTimedOut(t, hp, res, "300ms", "waiting for SSH on 127.", ":"+strconv.Itoa(port), "connection refused")
	if res.CouldNotStart || strings.Contains(res.FirstFailure, "could not start") {
		t.Errorf("a host the run created reads as could not start: %q", res.FirstFailure)
	}
}

// A host that answers SSH but never writes its ready marker fails the
// ready phase at ready-timeout, naming it and the marker, and is torn
// down.
func TestReadyTimeoutWithoutTheReadyMarker(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	marker := filepath.Join(hostDir(t), "never-written") // absent, not hidden from testUser
	plan := testPlan(stuckProvider{hostProvider: hp, marker: marker}, Step{Name: "never", Run: "true"})
	// Long enough to connect on a loaded machine: the limit is meant to
	// end the wait for the marker, not the dial.
	plan.ReadyTimeout = 3 * time.Second
	// Far off: on a loaded machine the collect and teardown after the
	// ready failure must not reach it and turn the verdict into a timeout.
	plan.Timeout = 30 * time.Minute
	res := Run(context.Background(), plan)
	readyTimedOut(t, hp, res, "3s", "waiting for the ready marker "+marker)
}

// On a host we do not boot, the bootstrap runs as cloud-init runs it: one
// sh script under set -e. A failing first line of an entry ends it there:
// the rest of that entry and the entries after it do not run, and the
// ready phase fails naming the entry.
func TestBootstrapOverSSHStopsAtTheFirstFailure(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	dir := hostDir(t) // the step runs as testUser: its file must be one it could write
	first, second, after := filepath.Join(dir, "first"), filepath.Join(dir, "second-line"), filepath.Join(dir, "next-entry")
	stepped := filepath.Join(dir, "stepped")
	plan := testPlan(hp, Step{Name: "mark", Run: "touch " + remote.Quote(stepped), Column: matrix.LiveCycle})
	plan.Bootstrap = []string{
		"touch " + remote.Quote(first),
		"false\ntouch " + remote.Quote(second),
		"touch " + remote.Quote(after),
	}
	out := newWatchWriter("\x00")
	plan.Out = out
	res := Run(context.Background(), plan)
	pr := res.Phase(PhaseReady)
	if pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("ready %+v, want failed\n%s", pr, out)
	}
	for _, want := range []string{"bootstrap entry 2 of 3", "(false …)", "exit status 1"} {
		if !strings.Contains(pr.Error, want) {
			t.Errorf("ready error %q lacks %q", pr.Error, want)
		}
	}
	if res.Outcome == Verified {
		t.Errorf("outcome %s, want a failure", res.Outcome)
	}
	if !exists(first) {
		t.Errorf("%s missing: the entry before the failing one did not run\n%s", first, out)
	}
	for _, f := range []string{second, after, stepped} {
		if exists(f) {
			t.Errorf("%s exists: the bootstrap went on past a failing command", f)
		}
	}
}

// A failure inside an && list does not end the bootstrap, as under
// cloud-init: the entry's status is its last command's.
func TestBootstrapOverSSHAndListIsNotAFailure(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	after := filepath.Join(t.TempDir(), "after")
	plan := testPlan(hp, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
	plan.Bootstrap = []string{"false && true", "touch " + remote.Quote(after)}
	res := Run(context.Background(), plan)
	if pr := res.Phase(PhaseReady); pr == nil || pr.Status != matrix.Pass {
		t.Fatalf("ready %+v, want passed", pr)
	}
	if !exists(after) {
		t.Errorf("%s missing: the entry after an && list did not run", after)
	}
}
