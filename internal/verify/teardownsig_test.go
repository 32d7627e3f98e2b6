package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// events is an ordered record of what the cycle called, from any goroutine.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.list = append(e.list, s)
	e.mu.Unlock()
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.list, ", ")
}

// stuckDestroy boots real test hosts like hostProvider, but its Destroy
// hangs until its context ends, as a cloud's wait for a terminated
// instance would; it then records the deadline the context ended at and
// removes the test host (with a context of its own: that is the test's
// cleanup, not the cycle's).
// stuckGuard ends a stuck destroy whose context the test expected to end
// long before: only a broken cut waits for it.
const stuckGuard = 30 * time.Second

type stuckDestroy struct {
	*hostProvider
	ev      *events
	started chan struct{}
	once    sync.Once

	mu       sync.Mutex
	deadline time.Time
	calls    int
}

func (p *stuckDestroy) Destroy(ctx context.Context, id providers.Identity) (providers.Report, error) {
	p.ev.add("destroy")
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	p.once.Do(func() { close(p.started) })
	select {
	case <-ctx.Done():
	case <-time.After(stuckGuard):
		// Not cut: the assertions on the deadline say so, rather than
		// the test hanging for the teardown budget.
	}
	dl, _ := ctx.Deadline()
	p.mu.Lock()
	p.deadline = dl
	p.mu.Unlock()
	rep, err := p.hostProvider.Destroy(context.Background(), id)
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("wait for the host to go: %w", ctx.Err()))
	}
	return rep, err
}

// TestSignalDuringTeardownCutsItToTheCancelBudget: a signal that comes
// while the teardown runs (here, while the destroy waits) cuts the
// teardown to the cancel budget from the signal, not the minutes of the
// teardown budget, which the runner's SIGKILL would not wait for: the
// running destroy's context reports the cut deadline and ends there. The
// verdict was handed to OnVerdict before the destroy began and stands; the
// teardown reads handed over (pending, deferred to the post step), not
// failed.
func TestSignalDuringTeardownCutsItToTheCancelBudget(t *testing.T) {
	testhost.RequireRoot(t)
	ev := &events{}
	p := &stuckDestroy{hostProvider: &hostProvider{}, ev: ev, started: make(chan struct{})}
	plan := testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
	// A teardown budget of an hour: a cut deadline cannot be mistaken
	// for it.
	plan.Timeout, plan.TeardownBudget = 2*time.Hour, time.Hour
	plan.CancelBudget = 300 * time.Millisecond
	plan.Actions, plan.PostStep = true, true
	out := newWatchWriter("!! cancelled during the teardown")
	plan.Out = out
	var verdict Outcome
	var verdictLive matrix.Status
	plan.OnVerdict = func(r *Result) {
		ev.add("verdict")
		verdict, verdictLive = r.Outcome, r.Row().Cell(matrix.LiveCycle).Status
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var signalAt time.Time
	go func() {
		<-p.started
		signalAt = time.Now()
		cancel()
	}()
	res := Run(ctx, plan)

	if got := ev.String(); got != "verdict, destroy" {
		t.Errorf("calls %q, want the verdict handed over before the destroy, which ran once", got)
	}
	if verdict != Verified || verdictLive != matrix.Pass {
		t.Errorf("OnVerdict got outcome %q, live cycle %q; want verified, pass", verdict, verdictLive)
	}
	p.mu.Lock()
	dl := p.deadline
	p.mu.Unlock()
	// The cut is counted from the signal; the watcher that makes it runs
	// just after the cancel, so the deadline is the budget after the
	// signal or a little later, and nowhere near the teardown budget.
	if earliest := signalAt.Add(plan.CancelBudget); dl.Before(earliest) || dl.After(earliest.Add(time.Minute)) {
		t.Errorf("the destroy's context ended at its deadline %s, %s after the signal; want the cancel budget (%s) after it, not the teardown budget (%s)",
			dl.Format(time.RFC3339Nano), dl.Sub(signalAt), plan.CancelBudget, plan.TeardownBudget)
	}
	select {
	case <-out.seen:
	default:
		t.Errorf("the output does not say the signal came during the teardown:\n%s", out)
	}
	if o := out.String(); !strings.Contains(o, "⏳ teardown cut short by the signal") || strings.Contains(o, "✗ teardown") {
		t.Errorf("the output does not say the teardown was cut short (and only that):\n%s", o)
	}
	if res.Outcome != Verified || res.FirstFailure != "" {
		t.Errorf("outcome %s (%q), want the verdict before the teardown: verified", res.Outcome, res.FirstFailure)
	}
	td := res.Phase(PhaseTeardown)
	if td == nil || td.Status != matrix.Pending || !td.Stopped || !strings.Contains(td.Error, "cut short by a signal") ||
		!strings.Contains(td.Error, "the post step sweeps again") {
		t.Errorf("teardown %+v, want pending: cut short by the signal, left to the post step", td)
	}
	if !res.TeardownDeferred {
		t.Error("the result does not hand the teardown to the post step (TeardownDeferred), so the run would be marked torn down")
	}
	if !strings.Contains(strings.Join(res.Notices, "\n"), "a signal came during the teardown") {
		t.Errorf("notices %q do not say a signal came during the teardown", res.Notices)
	}
	if c := res.Row().Cell(matrix.LiveCycle); c.Status != matrix.Pass {
		t.Errorf("live cycle %+v, want the suite's pass", c)
	}
}

// failingDestroy is hostProvider whose Destroy removes the host but then
// reports an error, as a cloud refusing one delete would.
type failingDestroy struct{ *hostProvider }

func (p failingDestroy) Destroy(ctx context.Context, id providers.Identity) (providers.Report, error) {
	rep, _ := p.hostProvider.Destroy(ctx, id)
	return rep, errors.New("delete security group sg-1: DependencyViolation")
}

// TestVerdictBeforeTeardownLeavesTheTeardownsFailure: the verdict handed
// over before the teardown is the suite's; the result Run returns is
// decided after it, so a failed teardown still fails the leg and is its
// first failure.
func TestVerdictBeforeTeardownLeavesTheTeardownsFailure(t *testing.T) {
	testhost.RequireRoot(t)
	p := failingDestroy{&hostProvider{}}
	plan := testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
	var verdict Outcome
	plan.OnVerdict = func(r *Result) { verdict = r.Outcome }
	res := Run(context.Background(), plan)
	if verdict != Verified {
		t.Errorf("OnVerdict got %q, want verified", verdict)
	}
	if res.Outcome != Failed || !strings.HasPrefix(res.FirstFailure, "teardown: ") || !strings.Contains(res.FirstFailure, "DependencyViolation") {
		t.Errorf("outcome %s, first failure %q; want failed by the teardown", res.Outcome, res.FirstFailure)
	}
}

// panicProvider records its instance and then panics in Create, as a bug
// in an adapter would.
type panicProvider struct {
	mu       sync.Mutex
	created  bool
	destroys int
}

func (p *panicProvider) Name() string                                       { return "panics" }
func (p *panicProvider) Preflight(context.Context, providers.Request) error { return nil }

func (p *panicProvider) Create(_ context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	p.mu.Lock()
	p.created = true
	p.mu.Unlock()
	j.Record(providers.Resource{Provider: p.Name(), Kind: "instance", ID: "i-panic", Tags: req.Identity.Tags()})
	panic("the instance table was never made") // as a provider's bug would
}

func (p *panicProvider) Destroy(context.Context, providers.Identity) (providers.Report, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.destroys++
	p.created = false
	return providers.Report{Deleted: []providers.Resource{{Kind: "instance", ID: "i-panic"}}}, nil
}

func (p *panicProvider) List(context.Context, providers.Filter) ([]providers.Resource, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.created {
		return []providers.Resource{{Kind: "instance", ID: "i-panic"}}, nil
	}
	return nil, nil
}

// TestPanicInAPhaseStillTearsDown: a panic in a phase (the provider's
// create, after it recorded its instance) fails that phase as an internal
// error instead of taking the process down: the cleanups run (the destroy,
// once), the leak check passes, and Run returns a result, errored. The
// stack goes to the log, not into the summary.
func TestPanicInAPhaseStillTearsDown(t *testing.T) {
	p := &panicProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	var log strings.Builder
	plan.Logger = slog.New(slog.NewTextHandler(&log, nil))
	res := Run(context.Background(), plan)

	if res.Outcome != Errored {
		t.Errorf("outcome %s, want error", res.Outcome)
	}
	pr := res.Phase(PhaseProvision)
	if pr == nil || pr.Status != matrix.Fail || !strings.Contains(pr.Error, "internal error in provision: the instance table was never made") {
		t.Errorf("provision %+v, want failed as an internal error naming the panic", pr)
	}
	if strings.Contains(res.FirstFailure, "goroutine") || strings.Contains(res.FirstFailure, ".go:") {
		t.Errorf("first failure %q holds the stack", res.FirstFailure)
	}
	if p.destroys != 1 {
		t.Errorf("destroy ran %d times, want once", p.destroys)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed (destroyed, nothing left)", td)
	}
	if l := log.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "panicProvider") {
		t.Errorf("the log lacks the panic's stack at error level:\n%s", l)
	}
}

// TestPanickingCleanupDoesNotSkipTheRest: a cleanup that panics is a
// failed cleanup; the ones after it (the provider's destroy, pushed first)
// still run, in the normal and the cancelled modes.
func TestPanickingCleanupDoesNotSkipTheRest(t *testing.T) {
	for _, mode := range []struct {
		name       string
		hostBudget time.Duration
	}{{"normal", 0}, {"cancelled", time.Second}} {
		t.Run(mode.name, func(t *testing.T) {
			var cl cleanups
			destroyed := false
			cl.push("destroy", func(context.Context) error { destroyed = true; return nil })
			cl.push("remove the group", func(context.Context) error { panic("nil group") })
			cl.pushHost("remove the probe binary", func(context.Context) error { panic("nil session") })
			u := cl.unwind(context.Background(), slog.New(slog.DiscardHandler), mode.hostBudget, hostEach)
			err, hostErr := u.err, u.hostErr
			all := errors.Join(err, hostErr)
			if !destroyed {
				t.Error("the destroy did not run after a cleanup panicked")
			}
			for _, want := range []string{"remove the group: internal error: nil group", "remove the probe binary: internal error: nil session"} {
				if all == nil || !strings.Contains(all.Error(), want) {
					t.Errorf("errors %v, want %q", all, want)
				}
			}
		})
	}
}

// TestCutContext: the teardown's context ends at its deadline, which a
// cut brings forward (never back); Deadline reports the current one, and
// a context derived from it ends with it.
func TestCutContext(t *testing.T) {
	far := time.Now().Add(time.Hour)
	ctx, cancel := withCutDeadline(context.Background(), far)
	defer cancel()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	ctx.cut(far.Add(time.Minute))
	if dl, _ := ctx.Deadline(); !dl.Equal(far) || ctx.Err() != nil {
		t.Fatalf("after a later cut: deadline %s, err %v; want %s, live", dl, ctx.Err(), far)
	}
	past := time.Now().Add(-time.Second)
	ctx.cut(past)
	<-ctx.Done()
	<-child.Done()
	if dl, _ := ctx.Deadline(); !dl.Equal(past) {
		t.Errorf("deadline %s after the cut, want %s", dl, past)
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Errorf("errors %v and (derived) %v, want deadline exceeded", ctx.Err(), child.Err())
	}
	cancel()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("cancel after the end changed the error to %v", ctx.Err())
	}
}
