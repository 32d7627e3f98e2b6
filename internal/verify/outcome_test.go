package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// The overall deadline is its own outcome, not a cancellation: the leg
// reads timed out, and its first failure names timeout-minutes and the
// limit, so the user knows which input to raise. What was created is
// still destroyed, with a live context.
func TestOverallDeadlineIsTimedOutNamingTheLimit(t *testing.T) {
	p := &hangProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.Timeout, plan.TeardownBudget = 200*time.Millisecond, 150*time.Millisecond
	out := newWatchWriter("==> teardown")
	plan.Out = out
	res := Run(context.Background(), plan)

	if res.Outcome != TimedOut {
		t.Errorf("outcome %s, want %s (no signal was sent)", res.Outcome, TimedOut)
	}
	// The progress says so too, rather than "provision failed".
	if !strings.Contains(out.String(), "⏱ provision timed out after ") || strings.Contains(out.String(), "provision failed") {
		t.Errorf("the progress does not say the provision phase timed out:\n%s", out.String())
	}
	for _, want := range []string{"provision: ", "timeout-minutes", "200ms", "teardown-budget 150ms"} {
		if !strings.Contains(res.FirstFailure, want) {
			t.Errorf("first failure %q lacks %q", res.FirstFailure, want)
		}
	}
	if strings.Contains(res.FirstFailure, "cancelled") {
		t.Errorf("first failure %q reads as a cancellation", res.FirstFailure)
	}
	row := res.Row()
	if c := row.Cell(matrix.LiveCycle); c.Status != matrix.Fail || c.Text != "timed out" {
		t.Errorf("Live cycle cell %+v, want ❌ timed out", c)
	}
	if !strings.Contains(row.Notes, "timeout-minutes") {
		t.Errorf("notes %q do not name timeout-minutes", row.Notes)
	}
	if len(p.destroys) != 1 || p.destroys[0].err != nil {
		t.Errorf("destroy calls %+v, want one with a live context", p.destroys)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
	if pr := res.Phase(PhaseProvision); pr == nil || pr.Status != matrix.Fail || !pr.Stopped {
		t.Errorf("provision %+v, want failed and stopped by the deadline", pr)
	}
}

// A preflight the overall deadline cuts short reached no verdict: its
// phase is stopped, and the Preflight cell reads not run ("—"), never ❌,
// which would tell the PR the provider failed its preflight.
func TestDeadlineDuringPreflightIsNoFailedPreflight(t *testing.T) {
	p := &hangingPreflight{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	// The preflight phase's own limit stays far off: only the leg's
	// deadline can end the hanging preflight.
	plan.PreflightTimeout = time.Hour
	plan.Timeout, plan.TeardownBudget = 200*time.Millisecond, 150*time.Millisecond
	res := Run(context.Background(), plan)

	if res.Outcome != TimedOut {
		t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, TimedOut)
	}
	if pr := res.Phase(PhasePreflight); pr == nil || pr.Status != matrix.Fail || !pr.Stopped {
		t.Errorf("preflight %+v, want failed and stopped by the deadline", pr)
	}
	row := res.Row()
	if c := row.Cell(matrix.Preflight); c.Status != matrix.NotRun {
		t.Errorf("Preflight cell %+v, want — (cut short, no verdict)", c)
	}
	if c := row.Cell(matrix.LiveCycle); c.Status != matrix.Fail || c.Text != "timed out" {
		t.Errorf("Live cycle cell %+v, want ❌ timed out", c)
	}
	if p.created {
		t.Errorf("a host was created after a preflight that did not pass")
	}
}

// A signal while the probe is due stops it short of a verdict: nothing
// was checked on the host, so the Preflight cell keeps the preflight's ✅
// (as for a signal before the probe) and the live cycle reads ❌
// cancelled — never a failed preflight or KVM check.
func TestCancelDuringProbeIsNoFailedPreflight(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "seccomp", Run: "true", Column: matrix.SeccompProbe})
	plan.ProbeBinary = testProbeBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The "signal" comes as the ready phase lands: the probe runs into it.
	plan.OnProgress = func(r *Result) {
		if r.Phase(PhaseReady) != nil {
			cancel()
		}
	}
	res := Run(ctx, plan)

	if res.Outcome != Cancelled {
		t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, Cancelled)
	}
	if pr := res.Phase(PhaseReady); pr == nil || pr.Status != matrix.Pass {
		t.Fatalf("ready %+v, want passed before the signal", pr)
	}
	if pr := res.Phase(PhaseProbe); pr == nil || pr.Status != matrix.Fail || !pr.Stopped || pr.Error != "cancelled" {
		t.Errorf("probe %+v, want failed, stopped, cancelled", pr)
	}
	row := res.Row()
	if c := row.Cell(matrix.Preflight); c.Status != matrix.Pass {
		t.Errorf("Preflight cell %+v, want ✅ (the preflight passed; the probe reached no verdict)", c)
	}
	if c := row.Cell(matrix.LiveCycle); c.Status != matrix.Fail || c.Text != "cancelled" {
		t.Errorf("Live cycle cell %+v, want ❌ cancelled", c)
	}
	if c := row.Cell(matrix.SeccompProbe); c.Status != matrix.NotRun {
		t.Errorf("Seccomp probe cell %+v, want — (the suite never ran)", c)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after the cancel: %v", left)
	}
}

// When the caller kept part of timeout-minutes back (reporting), the
// error still names timeout-minutes as given and says what was kept.
func TestDeadlineErrorNamesTheReserve(t *testing.T) {
	e := &deadlineError{timeout: 2 * time.Minute, teardown: 30 * time.Second}
	if got, want := e.Error(), "stopped at the timeout-minutes limit (2m, less teardown-budget 30s)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	e = &deadlineError{timeout: 90 * time.Minute, teardown: 5 * time.Minute, reserved: 95 * time.Second}
	if got, want := e.Error(), "stopped at the timeout-minutes limit (1h30m, less teardown-budget 5m and 1m35s kept for reporting)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

// A signal is still a cancellation, told apart from the deadline.
func TestSignalIsCancelledNotTimedOut(t *testing.T) {
	p := &hangProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The "signal" comes once the create has recorded its resource.
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
	res := Run(ctx, plan)
	if res.Outcome != Cancelled {
		t.Errorf("outcome %s, want %s", res.Outcome, Cancelled)
	}
	if strings.Contains(res.FirstFailure, "timeout-minutes") {
		t.Errorf("first failure %q blames the deadline for a signal", res.FirstFailure)
	}
	if c := res.Row().Cell(matrix.LiveCycle); c.Text != "cancelled" {
		t.Errorf("Live cycle cell %+v, want ❌ cancelled", c)
	}
}

// A leg whose checks all came back "not run" (a libtest step that ran 0
// tests) is not verified: nothing failed, but nothing was shown to pass.
func TestZeroTestsIsIncompleteNotVerified(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	zero := `printf 'running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n'`
	plan := testPlan(p,
		Step{Name: "smoke", Run: "true", Column: matrix.LiveCycle},
		Step{Name: "seccomp probe", Run: zero, Column: matrix.SeccompProbe, Parse: "libtest"},
	)
	res := Run(context.Background(), plan)
	if res.Outcome != Incomplete {
		t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, Incomplete)
	}
	if !strings.HasPrefix(res.FirstFailure, "seccomp probe: ") || !strings.Contains(res.FirstFailure, "0 tests") {
		t.Errorf("first failure %q, want the step that ran 0 tests", res.FirstFailure)
	}
	row := res.Row()
	if c := row.Cell(matrix.SeccompProbe); c.Status != matrix.NotRun {
		t.Errorf("Seccomp probe cell %+v, want — (not run)", c)
	}
	if !strings.Contains(row.Notes, "seccomp probe") {
		t.Errorf("notes %q do not say what was not run", row.Notes)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
}

// `up` keeps a ready host and runs no step: that is no verdict, so it must
// not read as verified. The live cycle is still to come (⏳).
func TestKeptHostIsUpNotVerified(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "smoke", Run: "true", Column: matrix.LiveCycle})
	plan.KeepHost = true
	res := Run(context.Background(), plan)
	t.Cleanup(func() { _, _ = p.Destroy(context.Background(), plan.Identity) })
	if res.Outcome != Up || !res.Kept {
		t.Fatalf("outcome %s kept %v (%s), want %s and kept", res.Outcome, res.Kept, res.FirstFailure, Up)
	}
	if len(res.Steps) != 0 {
		t.Errorf("steps ran on a kept host: %+v", res.Steps)
	}
	row := res.Row()
	if c := row.Cell(matrix.LiveCycle); c.Status != matrix.Pending {
		t.Errorf("Live cycle cell %+v, want ⏳ (suite not run)", c)
	}
	if c := row.Cell(matrix.SeccompProbe); c.Status != matrix.NotRun {
		t.Errorf("Seccomp probe cell %+v, want — (not run)", c)
	}
	if !strings.Contains(row.Notes, "suite not run") {
		t.Errorf("notes %q do not say the suite was not run", row.Notes)
	}
}
