package verify

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// TestKeepHostNotKeptAfterFailure: `up` keeps only a ready host. A host
// whose bootstrap failed is torn down like any failed leg, not handed to
// the user (where nothing would tear it down until they ran down).
func TestKeepHostNotKeptAfterFailure(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true", Column: matrix.LiveCycle})
	plan.KeepHost = true
	plan.Bootstrap = []string{"true", "exit 3"}
	// A host kept by mistake must not outlive the test.
	t.Cleanup(func() { p.Destroy(context.Background(), plan.Identity) })
	var out strings.Builder
	plan.Out = &out
	res := Run(context.Background(), plan)

	if pr := res.Phase(PhaseReady); pr == nil || pr.Status != matrix.Fail || !strings.Contains(pr.Error, "bootstrap entry 2 of 2") {
		t.Fatalf("ready %+v, want failed at the bootstrap's second entry\n%s", pr, out.String())
	}
	if res.Kept || res.Outcome == Up || res.Outcome == Verified {
		t.Errorf("kept %v, outcome %s after a failed bootstrap; want the host not kept and the leg failed", res.Kept, res.Outcome)
	}
	if res.Outcome != Errored {
		t.Errorf("outcome %s, want %s (failed before the suite)", res.Outcome, Errored)
	}
	if len(res.ClientKeyPEM) != 0 || len(res.HostCleanups) != 0 {
		t.Error("a host not kept handed over its client key or host cleanups")
	}
	p.mu.Lock()
	destroys := len(p.destroys)
	p.mu.Unlock()
	if destroys != 1 {
		t.Errorf("the provider's destroy ran %d times, want once", destroys)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after a failed up: %v", left)
	}
}

// TestCancelAfterFirstStepMarksTheRestNotRun: a signal between steps
// stops the suite there; every step not run is in the result as not run,
// cancelled, so the summary lists the whole suite.
func TestCancelAfterFirstStepMarksTheRestNotRun(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p,
		Step{Name: "one", Run: "true", Column: matrix.LiveCycle},
		Step{Name: "two", Run: "true", Column: matrix.LiveCycle},
		Step{Name: "three", Run: "true", Column: matrix.SeccompProbe},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Called with each step's result as it lands: the signal comes once
	// the first step is done, before the second starts.
	plan.OnProgress = func(r *Result) {
		if len(r.Steps) == 1 {
			cancel()
		}
	}
	res := Run(ctx, plan)

	if res.Outcome != Cancelled {
		t.Errorf("outcome %s (%s), want cancelled", res.Outcome, res.FirstFailure)
	}
	if len(res.Steps) != 3 {
		t.Fatalf("%d step results %+v, want all 3", len(res.Steps), res.Steps)
	}
	if s := res.Steps[0]; s.Name != "one" || s.Status != matrix.Pass {
		t.Errorf("step 1 %+v, want one passed", s)
	}
	for i, name := range []string{"two", "three"} {
		s := res.Steps[i+1]
		if s.Name != name || s.Status != matrix.NotRun || s.Reason != "cancelled" || s.Column != plan.Steps[i+1].Column {
			t.Errorf("step %d %+v, want %s not run, cancelled, in its column", i+2, s, name)
		}
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after the cancel: %v", left)
	}
}

// TestCancelDuringStepIsNotRun: a step cut off by a signal did not fail;
// it was not run to the end. It and its column read not run, and the leg
// fails as cancelled, not as that step's failure.
func TestCancelDuringStepIsNotRun(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	sleep := fmt.Sprintf("sleep 600.%06d", time.Now().UnixNano()%1000000)
	t.Cleanup(func() { exec.Command("pkill", "-f", sleep).Run() })
	plan := testPlan(p, Step{Name: "seccomp", Run: "echo started; " + sleep, Column: matrix.SeccompProbe})
	_, cancel, done := runToStep(t, plan)
	cancel()
	res := <-done

	if res.Outcome != Cancelled {
		t.Errorf("outcome %s, want cancelled", res.Outcome)
	}
	if len(res.Steps) != 1 {
		t.Fatalf("step results %+v, want the one step", res.Steps)
	}
	if s := res.Steps[0]; s.Status != matrix.NotRun || s.Reason != "cancelled" {
		t.Errorf("step %+v, want not run, cancelled", s)
	}
	if c := res.Row().Cell(matrix.SeccompProbe); c.Status != matrix.NotRun {
		t.Errorf("Seccomp probe cell %+v, want not run", c)
	}
	// The cancel is the first failure, found by the suite phase; not the
	// step's own.
	if res.FirstFailure != "suite: cancelled" {
		t.Errorf("first failure %q, want the cancel, not the step's failure", res.FirstFailure)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after the cancel: %v", left)
	}
}

// After a signal, the teardown keeps a slice of the cancel budget from the
// destroy for the leak check, but only where the provider creates
// something: one that uses an existing host (ssh) tags nothing, so there
// is nothing to list, and its cleanups (the host-side ones there are the
// whole teardown, the suite's user with passwordless sudo among them) get
// all of the budget. The provider's cleanup sees the deadline it is given.
func TestCancelKeepsTheLeakCheckShareOnlyWhereTheProviderCreates(t *testing.T) {
	testhost.RequireRoot(t)
	for _, creates := range []bool{false, true} {
		t.Run(fmt.Sprintf("creates=%v", creates), func(t *testing.T) {
			p := &hostProvider{}
			sleep := fmt.Sprintf("sleep 600.%06d", time.Now().UnixNano()%1000000)
			t.Cleanup(func() { exec.Command("pkill", "-f", sleep).Run() })
			plan := testPlan(p, Step{Name: "long", Run: "echo started; " + sleep, Column: matrix.LiveCycle})
			plan.Info.Creates = creates
			// Above the default, so the budget seen is the plan's; short,
			// as this provider's Destroy stops the host, after which the
			// host-side cleanups of creates=false wait out their shares.
			plan.CancelBudget = 10 * time.Second
			out, cancel, done := runToStep(t, plan)
			signalled := time.Now()
			cancel()
			if res := <-done; res.Outcome != Cancelled {
				t.Fatalf("outcome %s, want cancelled\n%s", res.Outcome, out)
			}
			p.mu.Lock()
			destroys := slices.Clone(p.destroys)
			p.mu.Unlock()
			if len(destroys) != 1 || !destroys[0].hasDeadline {
				t.Fatalf("destroy calls %+v, want one with a deadline", destroys)
			}
			// The teardown ends the cancel budget after the signal; the
			// cycle notes the signal no sooner than the test sent it.
			whole := !destroys[0].deadline.Before(signalled.Add(plan.CancelBudget))
			if whole == creates {
				t.Errorf("the destroy's deadline is %s after the signal with a cancel budget of %s; want the whole budget only when the provider creates nothing",
					destroys[0].deadline.Sub(signalled), plan.CancelBudget)
			}
		})
	}
}
