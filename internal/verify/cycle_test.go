package verify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// hostProvider provisions real sshd test hosts on loopback, so the cycle
// under test talks real SSH, logging in as testUser. blockCreate makes Create wait for its context
// after the host exists, as a slow cloud API would.
type hostProvider struct {
	blockCreate bool
	// hideKVM boots hosts whose sessions see no /dev/kvm, as on a cloud
	// type without nested virtualization.
	hideKVM bool
	// uname is what the provider says the host's `uname -sm` is.
	uname string

	mu    sync.Mutex
	hosts map[string]*testhost.Host // by identity run+key
	// destroys records, per Destroy call, the context's state on entry.
	destroys []destroyCall
}

type destroyCall struct {
	err         error // ctx.Err() when Destroy was called
	hasDeadline bool
	deadline    time.Time
}

func (p *hostProvider) Name() string                                       { return "testhosts" }
func (p *hostProvider) Preflight(context.Context, providers.Request) error { return nil }

func (p *hostProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	h, err := testhost.Boot(ctx, testhost.Options{
		HostKeyPEM: req.HostKeyPEM,
		Users:      []testhost.User{testHostUser(req.ClientAuthorizedKey)},
		HideKVM:    p.hideKVM,
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.hosts == nil {
		p.hosts = map[string]*testhost.Host{}
	}
	p.hosts[req.Identity.Run()+"/"+req.Identity.Key] = h
	p.mu.Unlock()
	j.Record(providers.Resource{Provider: p.Name(), Kind: "host", ID: h.Addr(), Tags: req.Identity.Tags()})
	if p.blockCreate {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &providers.Host{Address: h.Addr(), Port: h.Port(), User: testUser, HostKey: h.HostKey(), Type: "test", Uname: p.uname}, nil
}

func (p *hostProvider) Destroy(ctx context.Context, id providers.Identity) (providers.Report, error) {
	p.mu.Lock()
	deadline, hasDeadline := ctx.Deadline()
	p.destroys = append(p.destroys, destroyCall{err: ctx.Err(), hasDeadline: hasDeadline, deadline: deadline})
	h := p.hosts[id.Run()+"/"+id.Key]
	delete(p.hosts, id.Run()+"/"+id.Key)
	p.mu.Unlock()
	if h == nil {
		return providers.Report{}, nil
	}
	return providers.Report{Deleted: []providers.Resource{{Kind: "host", ID: h.Addr()}}}, h.Stop(ctx)
}

func (p *hostProvider) List(_ context.Context, f providers.Filter) ([]providers.Resource, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []providers.Resource
	for k, h := range p.hosts {
		if f.Run == "" || strings.HasPrefix(k, f.Run+"/") {
			out = append(out, providers.Resource{Kind: "host", ID: h.Addr()})
		}
	}
	return out, nil
}

func testPlan(p providers.Provider, steps ...Step) Plan {
	now := time.Now()
	return Plan{
		Provider: p, Display: "Test", User: testUser, Lane: "kvm", Steps: steps,
		// A run id of its own: the probe's work directory on the test host
		// (this machine) is named for the run, and one a test's cut-short
		// teardown leaves behind must not be another test's.
		Identity:    providers.Identity{RunID: strconv.FormatInt(now.UnixNano(), 10), Key: "test", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		TTL:         time.Hour,
		ReadyPoll:   10 * time.Millisecond,
		DialBackoff: 10 * time.Millisecond,
	}
}

// The overall deadline ends the work early enough to leave the teardown
// budget: a step that outlives it is stopped, the host is torn down, and
// the leg reads timed out.
func TestDeadlineKeepsTheTeardownBudget(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "long", Run: "sleep 60", Column: matrix.LiveCycle})
	// A teardown budget roomy enough for a loaded machine (5 s was not:
	// stopping the step's processes over a root login shell took longer):
	// the test is about what happens at the deadline, not how fast.
	plan.Timeout, plan.TeardownBudget = 40*time.Second, 30*time.Second
	res := Run(context.Background(), plan)
	if res.Outcome != TimedOut || !strings.Contains(res.FirstFailure, "timeout-minutes") {
		t.Errorf("outcome %s, first failure %q; want timed out at timeout-minutes", res.Outcome, res.FirstFailure)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after the deadline: %v", left)
	}
}

// onlyHost is the one test host p has booted.
func (p *hostProvider) onlyHost(t *testing.T) *testhost.Host {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.hosts) != 1 {
		t.Fatalf("%d test hosts, want 1", len(p.hosts))
	}
	for _, h := range p.hosts {
		return h
	}
	return nil
}

// watchWriter closes seen once what was written holds marker.
type watchWriter struct {
	mu     sync.Mutex
	buf    strings.Builder
	marker string
	seen   chan struct{}
	once   sync.Once
}

// runToStep runs plan in the background until its step prints "started"
// (a long step's first line), with plan's output watched for that; the
// caller cancels (a signal) and reads the result from done.
func runToStep(t *testing.T, plan Plan) (*watchWriter, context.CancelFunc, <-chan *Result) {
	t.Helper()
	out := newWatchWriter("started")
	plan.Out = out
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan *Result, 1)
	go func() { done <- Run(ctx, plan) }()
	select {
	case <-out.seen:
	case res := <-done:
		t.Fatalf("the run ended before its step started: %s (%s)\n%s", res.Outcome, res.FirstFailure, out)
	}
	return out, cancel, done
}

func newWatchWriter(marker string) *watchWriter {
	return &watchWriter{marker: marker, seen: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A signal while the host has stopped answering (its sshd session frozen,
// as a hung or unreachable host would be) must not spend the cancel budget
// waiting for it: the run returns, and the provider's destroy gets a live
// context.
func TestCancelWithFrozenHostStillDestroys(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	sleep := fmt.Sprintf("sleep 600.%06d", time.Now().UnixNano()%1000000)
	t.Cleanup(func() { exec.Command("pkill", "-f", sleep).Run() })
	plan := testPlan(p, Step{Name: "long", Run: "echo started; " + sleep, Column: matrix.LiveCycle})
	plan.Info.Creates = true
	plan.ProbeBinary = testProbeBinary(t) // so a host-side cleanup is pending
	plan.Lane = hostLane()
	// Skipping that cleanup for the destroy is right for a cloud host,
	// whose disk goes with it; the test host is this machine.
	t.Cleanup(func() { os.RemoveAll("/tmp/mvm-verify-" + plan.Identity.Name()) })
	out, cancel, done := runToStep(t, plan)
	// Freeze everything the test host's sshd runs for the connection; the
	// listener stays, so the destroy can stop it.
	h := p.onlyHost(t)
	for _, pid := range proc.Descendants(h.Pid()) {
		// A process that exited since the listing (a short-lived helper of
		// the session) has nothing left to freeze.
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("SIGSTOP %d: %v", pid, err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	}
	cancel()
	res := <-done

	if res.Outcome != Cancelled {
		t.Errorf("outcome %s (%s), want cancelled", res.Outcome, res.FirstFailure)
	}
	p.mu.Lock()
	destroys := append([]destroyCall(nil), p.destroys...)
	p.mu.Unlock()
	if len(destroys) == 0 {
		t.Fatalf("the provider's destroy never ran\n%s", out)
	}
	if d := destroys[0]; d.err != nil || !d.hasDeadline {
		t.Errorf("destroy called with ctx err %v, deadline %v; want a live context bounded by the cancel budget\n%s", d.err, d.hasDeadline, out)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed\n%s", td, out)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after the cancel: %v", left)
	}
}

// A create that is cancelled after its host exists is still cleaned up:
// the destroy cleanup is pushed before the create call.
func TestCancelDuringProvisionCleansUp(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{blockCreate: true}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	plan.Journal = providers.JournalFunc(func(providers.Resource) { once.Do(cancel) })
	out := newWatchWriter("\x00") // never seen: only the text is wanted
	plan.Out = out
	res := Run(ctx, plan)
	if res.Outcome != Cancelled {
		t.Errorf("outcome %s, want cancelled", res.Outcome)
	}
	// A signal is no failure of the phase it stopped.
	if !strings.Contains(out.String(), "✗ provision cancelled after ") || strings.Contains(out.String(), "failed after") {
		t.Errorf("progress does not say the provision was cancelled (and only that):\n%s", out)
	}
	if len(res.Created) != 1 {
		t.Fatalf("created %v, want the one host", res.Created)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after cancelling the create: %v", left)
	}
	if len(res.Steps) != 0 {
		t.Errorf("steps ran after cancel: %+v", res.Steps)
	}
}

// A passing leg over real SSH, without the probe: the lane given stands,
// each step's verdict lands in its column.
func TestCycleOverRealSSH(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p,
		Step{Name: "hello", Run: `test "$(id -un)" = ` + testUser + ` && echo hi from $MVM_TEST`, Column: matrix.LiveCycle, Env: map[string]string{"MVM_TEST": "the host"}},
		Step{Name: "kvm only", Run: "true", NeedsKVM: true},
	)
	out := newWatchWriter("\x00") // never seen: only the text is wanted
	plan.Out = out
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	// The provider reported the host's key: the connection is pinned.
	if strings.Contains(out.String(), "not pinned") {
		t.Errorf("a host with a known key was reached unpinned:\n%s", out)
	}
	if !strings.Contains(res.Steps[0].Output, "hi from the host") {
		t.Errorf("step output %q", res.Steps[0].Output)
	}
	row := res.Row()
	if row.Cell(matrix.LiveCycle).Status != matrix.Pass || row.Cell(matrix.Preflight).Status != matrix.Pass {
		t.Errorf("row %+v", row)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
	checkCollected(t, res, "kernel log", "journal")
	// One attempt of a provider without candidates to choose from (not
	// billed: no cloud) is no list of candidates tried.
	if len(res.Attempts) != 0 {
		t.Errorf("attempts %+v recorded for a provider without candidates", res.Attempts)
	}
}

// checkCollected asserts the collect phase ran and fetched the named logs,
// in order, each with some text.
func checkCollected(t *testing.T, res *Result, names ...string) {
	t.Helper()
	ran := false
	for _, ph := range res.Phases {
		if ph.Name == PhaseCollect {
			ran = ph.Status == matrix.Pass
		}
	}
	if !ran {
		t.Errorf("collect phase did not pass: %+v", res.Phases)
	}
	var got []string
	for _, l := range res.Collected {
		got = append(got, l.Name)
		if strings.TrimSpace(l.Text) == "" {
			t.Errorf("collected %q is empty", l.Name)
		}
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("collected %q, want %q", got, names)
	}
}

// A failed step still leaves the host's logs to explain it.
func TestCollectAfterFailedSuite(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	res := Run(context.Background(), testPlan(p, Step{Name: "fails", Run: "exit 3", Column: matrix.LiveCycle}))
	if res.Outcome != Failed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	checkCollected(t, res, "kernel log", "journal")
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{2 * time.Minute, "2m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{time.Hour + 5*time.Minute, "1h5m"},
		{45 * time.Second, "45s"},
	} {
		if got := shortDuration(tc.d); got != tc.want {
			t.Errorf("shortDuration(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// hangProvider's Create records its resource and then hangs until its
// context ends, like a cloud API that never answers.
type hangProvider struct {
	mu       sync.Mutex
	created  bool
	destroys []destroyCall
}

func (p *hangProvider) Name() string                                       { return "hang" }
func (p *hangProvider) Preflight(context.Context, providers.Request) error { return nil }

func (p *hangProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	p.mu.Lock()
	p.created = true
	p.mu.Unlock()
	j.Record(providers.Resource{Provider: p.Name(), Kind: "instance", ID: "i-hang", Tags: req.Identity.Tags()})
	<-ctx.Done()
	return nil, ctx.Err()
}

func (p *hangProvider) Destroy(ctx context.Context, _ providers.Identity) (providers.Report, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, hasDeadline := ctx.Deadline()
	p.destroys = append(p.destroys, destroyCall{err: ctx.Err(), hasDeadline: hasDeadline})
	p.created = false
	return providers.Report{Deleted: []providers.Resource{{Kind: "instance", ID: "i-hang"}}}, nil
}

func (p *hangProvider) List(context.Context, providers.Filter) ([]providers.Resource, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.created {
		return []providers.Resource{{Kind: "instance", ID: "i-hang"}}, nil
	}
	return nil, nil
}

// A create that hangs ends at the provision phase's own limit, long before
// the leg's deadline, with an error that names the phase; what it created
// is still destroyed.
func TestProvisionTimeout(t *testing.T) {
	p := &hangProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.ProvisionTimeout = 50 * time.Millisecond
	// Far from the provision limit, but not the default 90 minutes: with
	// the limit broken the test fails at this deadline instead of hanging.
	plan.Timeout, plan.TeardownBudget = 20*time.Second, 5*time.Second
	res := Run(context.Background(), plan)

	pr := res.Phase(PhaseProvision)
	if pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("provision %+v, want failed", pr)
	}
	for _, want := range []string{"timed out", "provision phase", "50ms"} {
		if !strings.Contains(pr.Error, want) {
			t.Errorf("provision error %q lacks %q", pr.Error, want)
		}
	}
	if !strings.HasPrefix(res.FirstFailure, "provision: ") {
		t.Errorf("first failure %q does not name the provision phase", res.FirstFailure)
	}
	if res.Outcome != Errored {
		t.Errorf("outcome %s, want error (not cancelled: no signal, and the leg's deadline is far)", res.Outcome)
	}
	if len(p.destroys) != 1 || p.destroys[0].err != nil {
		t.Errorf("destroy calls %+v, want one with a live context", p.destroys)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
	if len(res.Steps) != 0 {
		t.Errorf("steps ran after a failed provision: %+v", res.Steps)
	}
}

// hangingPreflight's Preflight waits for its context to end, like a cloud
// API that never answers a credentials check.
type hangingPreflight struct {
	hangProvider
}

func (p *hangingPreflight) Preflight(ctx context.Context, _ providers.Request) error {
	<-ctx.Done()
	return ctx.Err()
}

// A preflight that hangs ends at the preflight phase's own limit, which
// the error names, long before the leg's deadline; nothing is created.
func TestPreflightTimeout(t *testing.T) {
	p := &hangingPreflight{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.PreflightTimeout = 50 * time.Millisecond
	// Far enough that only the phase's limit can end the preflight in a
	// passing run; near enough that a missing limit fails the test soon.
	plan.Timeout, plan.TeardownBudget = 30*time.Second, 10*time.Second
	res := Run(context.Background(), plan)

	pr := res.Phase(PhasePreflight)
	if pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("preflight %+v, want failed", pr)
	}
	for _, want := range []string{"timed out", "preflight phase", "50ms"} {
		if !strings.Contains(pr.Error, want) {
			t.Errorf("preflight error %q lacks %q", pr.Error, want)
		}
	}
	if res.Outcome != Errored {
		t.Errorf("outcome %s, want error (the phase's limit, not the leg's deadline)", res.Outcome)
	}
	// The phase's own limit is its verdict, not the run's end.
	if pr.Stopped {
		t.Errorf("preflight %+v marked stopped by the run's end; its own limit failed it", pr)
	}
	if c := res.Row().Cell(matrix.Preflight); c.Status != matrix.Fail {
		t.Errorf("Preflight cell %+v, want ❌", c)
	}
	if p.created || res.Phase(PhaseProvision) != nil {
		t.Errorf("a host was provisioned after a failed preflight")
	}
}

// kvmProviderPlan is a leg on a provider that offers both lanes, with the
// real probe, over a host whose sessions see no /dev/kvm.
func kvmProviderPlan(t *testing.T, lane string) (*hostProvider, Plan) {
	p := &hostProvider{hideKVM: true}
	plan := testPlan(p,
		Step{Name: "hello", Run: "echo hello", Column: matrix.SeccompProbe},
		Step{Name: "mvm smoke", Run: "true", NeedsKVM: true, Column: matrix.LiveCycle},
	)
	plan.Lane = lane
	plan.Info = providers.Info{Name: "testhosts", Creates: true, Lanes: []string{"kvm", "no-kvm"}}
	plan.ProbeBinary = testProbeBinary(t)
	return p, plan
}

// lane auto on a provider that offers KVM means kvm: a host without KVM
// fails the leg at the KVM check; the probe does not turn it into a
// verified no-KVM leg.
func TestLaneAutoOnKVMProviderNeedsKVM(t *testing.T) {
	testhost.RequireRoot(t)
	p, plan := kvmProviderPlan(t, "auto")
	res := Run(context.Background(), plan)
	if res.Outcome == Verified {
		t.Fatalf("a host without KVM verified the auto lane of a KVM provider")
	}
	if res.Lane != "kvm" {
		t.Errorf("lane %q, want kvm (auto resolved from the provider's lanes)", res.Lane)
	}
	if res.Probe == nil || res.Probe.Lane != "no-kvm" {
		t.Fatalf("the probe did not run or saw KVM behind the hidden /dev/kvm: %+v", res.Probe)
	}
	pr := res.Phase(PhaseProbe)
	if pr == nil || pr.Status != matrix.Fail || !strings.Contains(pr.Error, "KVM check") {
		t.Errorf("probe phase %+v, want failed at the KVM check", pr)
	}
	if !strings.HasPrefix(res.FirstFailure, "probe: KVM check") {
		t.Errorf("first failure %q, want the KVM check", res.FirstFailure)
	}
	row := res.Row()
	if row.Key != "test" || row.Lane != "kvm" {
		t.Errorf("row key %q lane %q, want the kvm lane's row", row.Key, row.Lane)
	}
	if c := row.Cell(matrix.Preflight); c.Status != matrix.Fail {
		t.Errorf("Preflight cell %+v, want ❌ (it carries the host probe)", c)
	}
	if c := row.Cell(matrix.LiveCycle); c.Status != matrix.Fail {
		t.Errorf("Live cycle cell %+v, want ❌", c)
	}
	if !strings.Contains(row.Notes, "KVM check") {
		t.Errorf("notes %q do not name the KVM check", row.Notes)
	}
	if len(res.Steps) != 0 {
		t.Errorf("steps ran after the KVM check failed: %+v", res.Steps)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
}

// The no-KVM lane asked for explicitly: steps that need KVM read n/a and
// the leg verifies.
func TestLaneNoKVMExplicit(t *testing.T) {
	testhost.RequireRoot(t)
	_, plan := kvmProviderPlan(t, "no-kvm")
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	if res.Lane != "no-kvm" || res.Probe == nil || res.Probe.Lane != "no-kvm" {
		t.Errorf("lane %q, probe %+v; want no-kvm both", res.Lane, res.Probe)
	}
	row := res.Row()
	if c := row.Cell(matrix.LiveCycle); c.Status != matrix.NA {
		t.Errorf("Live cycle cell %+v, want n/a", c)
	}
	if c := row.Cell(matrix.SeccompProbe); c.Status != matrix.Pass {
		t.Errorf("Seccomp probe cell %+v, want ✅", c)
	}
}

func TestResolveLane(t *testing.T) {
	cases := []struct {
		lane    string
		offered []string
		want    string
	}{
		{"auto", []string{"kvm", "no-kvm"}, "kvm"},
		{"auto", []string{"no-kvm"}, "no-kvm"},
		{"auto", nil, "kvm"},
		{"no-kvm", []string{"kvm", "no-kvm"}, "no-kvm"},
		{"kvm", []string{"no-kvm"}, "kvm"},
	}
	for _, tc := range cases {
		if got := resolveLane(tc.lane, tc.offered); got != tc.want {
			t.Errorf("resolveLane(%q, %v) = %q, want %q", tc.lane, tc.offered, got, tc.want)
		}
	}
}

// An upload has a limit of its own; running out of it fails the suite
// with an error naming the upload, and the host is still torn down.
func TestUploadTimeout(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	src := t.TempDir() + "/payload"
	if err := os.WriteFile(src, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := testPlan(p, Step{Name: "after the upload", Run: "true"})
	plan.Uploads = []Upload{{Src: src, Dst: "/tmp/mvv-upload-" + strconv.Itoa(os.Getpid())}}
	plan.UploadTimeout = time.Nanosecond
	res := Run(context.Background(), plan)
	pr := res.Phase(PhaseSuite)
	if pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("suite %+v, want failed", pr)
	}
	for _, want := range []string{"timed out", "the upload of " + src, "1ns"} {
		if !strings.Contains(pr.Error, want) {
			t.Errorf("suite error %q lacks %q", pr.Error, want)
		}
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
}

// deferringProvider hangs in Create like hangProvider, and its Destroy
// issues the delete but cannot confirm it in time: the report is Deferred
// and the instance is still listed, as it would be while it terminates.
type deferringProvider struct {
	hangProvider
	lists int
}

func (p *deferringProvider) Destroy(ctx context.Context, _ providers.Identity) (providers.Report, error) {
	return providers.Report{Deferred: true, Notes: []string{"us-east-1: not confirmed before the deadline"}}, nil
}

func (p *deferringProvider) List(ctx context.Context, f providers.Filter) ([]providers.Resource, error) {
	p.mu.Lock()
	p.lists++
	p.mu.Unlock()
	return p.hangProvider.List(ctx, f)
}

// After a signal, a destroy that issued its deletes but could not confirm
// them in the cancel budget hands over to the post step: the teardown
// passes, the leak check (which would see the instance still going) is
// deferred, and the result says so, so the run is not marked torn down.
func TestCancelledTeardownDeferredToPost(t *testing.T) {
	p := &deferringProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	var out strings.Builder
	plan.Out = &out
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			p.mu.Lock()
			created := p.created
			p.mu.Unlock()
			if created {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	plan.Actions, plan.PostStep = true, true
	res := Run(ctx, plan)
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed (handed to the post step)\n%s", td, out.String())
	}
	if !res.TeardownDeferred {
		t.Error("result does not say the teardown was deferred")
	}
	if p.lists != 0 {
		t.Errorf("the leak check listed %d times; want it deferred to the post step", p.lists)
	}
	if !strings.Contains(out.String(), "leak check not run: the deletes were issued but not all confirmed in time; the post step sweeps again") {
		t.Errorf("output does not say the leak check was deferred:\n%s", out.String())
	}
}
