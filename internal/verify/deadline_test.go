package verify

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers"
)

// The issue's limits, written out so a changed default fails the tests
// rather than moving with them.
const issueCancelBudget = 7 * time.Second

// deadlineProvider records the deadline of every context the cycle hands
// it. Its Create records a resource and then either fails at once or, with
// hang, waits for its context to end, as a cloud API that never answers.
type deadlineProvider struct {
	hang bool

	mu      sync.Mutex
	created bool
	// createDL, destroyDL and listDL are the deadlines Create, Destroy and
	// List (the leak check) were given; zero when the context had none.
	createDL, destroyDL, listDL time.Time
	// destroyLive is whether Destroy's context was still live on entry.
	destroyLive bool
	destroyedAt time.Time
}

func deadlineOf(ctx context.Context) time.Time {
	dl, _ := ctx.Deadline()
	return dl
}

func (p *deadlineProvider) Name() string                                       { return "deadlines" }
func (p *deadlineProvider) Preflight(context.Context, providers.Request) error { return nil }

func (p *deadlineProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	p.mu.Lock()
	p.created = true
	p.createDL = deadlineOf(ctx)
	p.mu.Unlock()
	j.Record(providers.Resource{Provider: p.Name(), Kind: "instance", ID: "i-dl", Tags: req.Identity.Tags()})
	if p.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, errors.New("no capacity")
}

func (p *deadlineProvider) Destroy(ctx context.Context, _ providers.Identity) (providers.Report, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.destroyDL = deadlineOf(ctx)
	p.destroyLive = ctx.Err() == nil
	p.destroyedAt = time.Now()
	p.created = false
	return providers.Report{Deleted: []providers.Resource{{Kind: "instance", ID: "i-dl"}}}, nil
}

func (p *deadlineProvider) List(ctx context.Context, _ providers.Filter) ([]providers.Resource, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listDL = deadlineOf(ctx)
	if p.created {
		return []providers.Resource{{Kind: "instance", ID: "i-dl"}}, nil
	}
	return nil, nil
}

// between fails unless from <= got <= to. The bounds are instants taken
// around the event the deadline was set from, so this checks which limit
// the cycle configured, not how long anything took.
func between(t *testing.T, what string, got, from, to time.Time) {
	t.Helper()
	if got.IsZero() {
		t.Errorf("%s: no deadline", what)
		return
	}
	if got.Before(from) || got.After(to) {
		t.Errorf("%s: deadline %s, want between %s and %s", what, got.Format(time.StampMicro), from.Format(time.StampMicro), to.Format(time.StampMicro))
	}
}

// The overall deadline (timeout-minutes) keeps the teardown budget in
// reserve: the phases' work must end TeardownBudget before Timeout, and a
// teardown after work that ended early ends within Timeout.
func TestWorkDeadlineReservesTheTeardownBudget(t *testing.T) {
	p := &deadlineProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.Timeout, plan.TeardownBudget = 2*time.Hour, 30*time.Minute
	// Phase limits longer than the leg, so only the overall deadline
	// bounds the provision phase's context.
	plan.PreflightTimeout, plan.ProvisionTimeout = 24*time.Hour, 24*time.Hour
	before := time.Now()
	res := Run(context.Background(), plan)
	after := time.Now()

	if pr := res.Phase(PhaseProvision); pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("provision %+v, want failed (the provider has no capacity)", pr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	work := plan.Timeout - plan.TeardownBudget
	between(t, "the provision phase's context", p.createDL, before.Add(work), after.Add(work))
	if !p.destroyLive {
		t.Error("destroy ran with an ended context")
	}
	// The work ended early: the teardown gets its budget from then, which
	// is inside the overall deadline.
	between(t, "the teardown's context", p.destroyDL, before, after.Add(plan.TeardownBudget))
	if overall := p.createDL.Add(plan.TeardownBudget); p.destroyDL.After(overall) {
		t.Errorf("teardown deadline %s is past the overall deadline %s", p.destroyDL, overall)
	}
}

// A phase that runs into the work's deadline returns after it (a killed
// step is given a grace to report its end): the teardown still gets its
// whole budget, counted from when the work stopped, not what happens to be
// left of Timeout by then.
func TestTeardownGetsItsBudgetAfterTheDeadline(t *testing.T) {
	p := &deadlineProvider{hang: true}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.Timeout, plan.TeardownBudget = 300*time.Millisecond, 100*time.Millisecond
	before := time.Now()
	res := Run(context.Background(), plan)
	after := time.Now()

	if res.Outcome != TimedOut {
		t.Fatalf("outcome %s (%s), want timed out", res.Outcome, res.FirstFailure)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	work := plan.Timeout - plan.TeardownBudget
	between(t, "the provision phase's context", p.createDL, before.Add(work), after.Add(work))
	// The work stopped at its deadline or after, so the teardown's ends
	// at the overall deadline (the work's plus the reserve) or after.
	between(t, "the teardown's context", p.destroyDL, p.createDL.Add(plan.TeardownBudget), after.Add(plan.TeardownBudget))
	if !p.destroyLive {
		t.Error("destroy ran with an ended context")
	}
}

// After a signal the teardown, leak check included, must end within the
// issue's 7 s of the signal (the runner's SIGKILL follows at about 10 s).
// The plan leaves CancelBudget zero, so this is the cycle's default.
func TestCancelBudgetIsSevenSecondsFromTheSignal(t *testing.T) {
	p := &deadlineProvider{hang: true}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var signalled time.Time
	var once sync.Once
	plan.Journal = providers.JournalFunc(func(providers.Resource) {
		once.Do(func() {
			signalled = time.Now()
			cancel()
		})
	})
	res := Run(ctx, plan)
	after := time.Now()

	if res.Outcome != Cancelled {
		t.Fatalf("outcome %s (%s), want cancelled", res.Outcome, res.FirstFailure)
	}
	if signalled.IsZero() {
		t.Fatal("the create never recorded its resource, so no signal was sent")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.destroyLive {
		t.Error("destroy ran with an ended context")
	}
	// The leak check runs last, to leakCheckMargin before the teardown's
	// deadline, which is the signal plus the cancel budget; the signal
	// was taken between `signalled` and the end of Run.
	between(t, "the teardown's context (from the leak check's)", p.listDL.Add(leakCheckMargin),
		signalled.Add(issueCancelBudget), after.Add(issueCancelBudget))
	// The destroy runs first, with an earlier deadline inside the budget.
	if p.destroyDL.IsZero() || p.destroyDL.After(p.destroyedAt.Add(issueCancelBudget)) || !p.destroyDL.After(p.destroyedAt) {
		t.Errorf("destroy's deadline %s, want after it was called (%s) and within %s of it",
			p.destroyDL.Format(time.StampMicro), p.destroyedAt.Format(time.StampMicro), issueCancelBudget)
	}
}
