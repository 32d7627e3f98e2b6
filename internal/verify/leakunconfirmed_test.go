package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers"
)

// youngSlowLister is refusedCreate with listings that lag behind creates
// (a young run needs several empty ones in a row) and a poll interval
// longer than any teardown budget: the leak check gets one listing before
// its deadline, so it cannot confirm the run left nothing.
type youngSlowLister struct {
	refusedCreate
	lists int
}

func (*youngSlowLister) LagWindow() time.Duration    { return time.Hour }
func (*youngSlowLister) PollInterval() time.Duration { return 24 * time.Hour }

func (p *youngSlowLister) List(ctx context.Context, f providers.Filter) ([]providers.Resource, error) {
	p.lists++
	return p.refusedCreate.List(ctx, f)
}

// TestLeakCheckNotConfirmedIsDeferred: a young run's leak check that saw
// one empty listing before its deadline is not taken as clean. Like a
// destroy that could not confirm its deletes, it hands over to the post
// step: the teardown passes, the result says the teardown is deferred (so
// the leg is not marked torn down and the post step sweeps again), and the
// output says why.
func TestLeakCheckNotConfirmedIsDeferred(t *testing.T) {
	p := &youngSlowLister{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.Actions, plan.PostStep = true, true
	var out strings.Builder
	plan.Out = &out
	res := Run(context.Background(), plan)
	if p.lists != 1 {
		t.Fatalf("the leak check listed %d times, want 1 (the next listing would come after the teardown's deadline)\n%s", p.lists, out.String())
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed (handed to the post step)\n%s", td, out.String())
	}
	if !res.TeardownDeferred {
		t.Errorf("result does not say the teardown was deferred: one empty listing of a young run was taken as clean\n%s", out.String())
	}
	if len(res.Leaks) != 0 {
		t.Errorf("leaks %v, want none: nothing was listed", res.Leaks)
	}
	if !strings.Contains(out.String(), "leak check not confirmed on refuses: 1 empty listing(s) before the deadline") ||
		!strings.Contains(out.String(), "the post step sweeps again") {
		t.Errorf("output does not say the leak check was not confirmed and who sweeps again:\n%s", out.String())
	}
}
