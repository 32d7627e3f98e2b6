package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// cellsDay is the day the legs below started: a verified leg's live cycle
// reads "verified 2026-11-30".
var cellsDay = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// decided is r with its outcome and first failure set as the cycle sets
// them at the end of a leg that neither a signal nor the deadline stopped.
func decided(r Result) *Result {
	r.Started = cellsDay
	c := &cycle{res: &r}
	c.decide(nil, false)
	return &r
}

// probed is a probe report whose seccomp check found the filter enforced
// or not.
func probed(enforced bool) *probe.Report {
	detail := "filter installed; getppid returned EPERM"
	if !enforced {
		detail = "seccomp(2): EINVAL\nkernel without CONFIG_SECCOMP_FILTER"
	}
	return &probe.Report{Lane: probe.LaneKVM, Seccomp: probe.Seccomp{Enforced: enforced, Detail: detail}}
}

// TestSeccompCellFromProbe: in a suite with no step for the Seccomp probe
// column, the column is the probe's seccomp check — never n/a ("not
// applicable", the no-KVM lane's word) while the probe's table says the
// host enforces seccomp, nor a verified leg on a host that does not. The
// cell, the outcome (and so the exit status) and the first failure agree.
// A suite that feeds the column keeps its steps' verdict; a leg without a
// probe report keeps the rule for a column no step feeds.
func TestSeccompCellFromProbe(t *testing.T) {
	smoke := []StepResult{{Name: "silent", Status: matrix.Pass}}
	cases := []struct {
		name string
		res  Result
		// outcome is the decided outcome; "" keeps the result's own
		// (a leg that ended, whose outcome decide does not set).
		outcome     Outcome
		seccomp     matrix.Cell
		live        matrix.Status
		firstFails  string // a substring of the first failure; "" for none
		notesAbsent string // a substring the notes must not have
	}{
		{
			// The acceptance walk: one step, no column, seccomp enforced.
			name: "enforced, no step feeds the column",
			res: Result{Lane: "kvm", SeccompFromProbe: true, Probe: probed(true),
				Phases: passPhases(allPhases...), Steps: smoke},
			outcome: Verified, seccomp: matrix.Cell{Status: matrix.Pass, Text: "(probe)"}, live: matrix.Pass,
		},
		{
			name: "not enforced, no step feeds the column",
			res: Result{Lane: "kvm", SeccompFromProbe: true, Probe: probed(false),
				Phases: passPhases(allPhases...), Steps: smoke},
			// The probe's check is the Seccomp probe column's, not the
			// live cycle's: the leg fails, its live parts stay green.
			outcome: Failed, seccomp: matrix.Cell{Status: matrix.Fail, Text: "(probe)"}, live: matrix.Pass,
			firstFails: "probe: seccomp filter not enforced (seccomp(2): EINVAL kernel without CONFIG_SECCOMP_FILTER)",
		},
		{
			// The no-KVM lane's seccomp is no less load-bearing: the leg
			// fails, while its live cycle stays the lane's n/a.
			name: "not enforced on the no-KVM lane",
			res: Result{Lane: "no-kvm", SeccompFromProbe: true, Probe: probed(false),
				Phases: passPhases(allPhases...), Steps: []StepResult{{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.NA}}},
			outcome: Failed, seccomp: matrix.Cell{Status: matrix.Fail, Text: "(probe)"}, live: matrix.NA,
			firstFails: "probe: seccomp filter not enforced", notesAbsent: "no KVM)",
		},
		{
			// A step failed first: its failure stays the first one, and
			// the probe's finding still fails the column.
			name: "not enforced after a failed step",
			res: Result{Lane: "kvm", SeccompFromProbe: true, Probe: probed(false), FirstFailure: "smoke: exit status 3",
				Phases: failIn(PhaseSuite, "1 of 1 steps failed: smoke", allPhases...),
				Steps:  []StepResult{{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Fail, Reason: "exit status 3"}}},
			outcome: Failed, seccomp: matrix.Cell{Status: matrix.Fail, Text: "(probe)"}, live: matrix.Fail,
			firstFails: "smoke: exit status 3",
		},
		{
			// A failed leg keeps what the probe found: not "—", which
			// would say the check was not run.
			name: "enforced, the live cycle failed",
			res: Result{Lane: "kvm", SeccompFromProbe: true, Probe: probed(true), FirstFailure: "smoke: exit status 3",
				Phases: failIn(PhaseSuite, "1 of 1 steps failed: smoke", allPhases...),
				Steps:  []StepResult{{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Fail, Reason: "exit status 3"}}},
			outcome: Failed, seccomp: matrix.Cell{Status: matrix.Pass, Text: "(probe)"}, live: matrix.Fail,
			firstFails: "smoke: exit status 3",
		},
		{
			// The host answered the probe: a connection lost later in the
			// suite leaves that verdict on the host, so the leg failed
			// rather than errored.
			name: "not enforced, then the connection was lost",
			res: Result{Lane: "kvm", SeccompFromProbe: true, Probe: probed(false), ConnectionLost: "step \"silent\": SSH connection lost",
				FirstFailure: "suite: SSH connection lost",
				Phases:       failIn(PhaseSuite, "SSH connection lost", allPhases...),
				Steps:        []StepResult{{Name: "silent", Status: matrix.Unknown}}},
			outcome: Failed, seccomp: matrix.Cell{Status: matrix.Fail, Text: "(probe)"}, live: matrix.Fail,
			firstFails: "suite: SSH connection lost",
		},
		{
			// The suite's own seccomp step is the column's verdict.
			name: "a step feeds the column",
			res: Result{Lane: "kvm", Probe: probed(false), Phases: passPhases(allPhases...),
				Steps: []StepResult{{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.Pass}}},
			outcome: Verified, seccomp: matrix.Cell{Status: matrix.Pass}, live: matrix.Pass,
		},
		{
			// No probe binary: nothing checked seccomp, and the suite has
			// no such check, as before.
			name: "no probe report",
			res: Result{Lane: "kvm", SeccompFromProbe: true,
				Phases: passPhases(PhasePreflight, PhaseProvision, PhaseReady, PhaseSuite, PhaseCollect, PhaseTeardown), Steps: smoke},
			outcome: Verified, seccomp: matrix.Cell{Status: matrix.NA}, live: matrix.Pass,
		},
		{
			// up reaches no verdict: its suite, and so the column, is
			// still to come.
			name: "kept host (up)",
			res: Result{Lane: "kvm", SeccompFromProbe: true, Probe: probed(false), Kept: true,
				Phases: passPhases(PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe)},
			outcome: Up, seccomp: matrix.Cell{Status: matrix.NotRun}, live: matrix.Pending,
		},
		{
			// A run killed after its probe, torn down by down: what the
			// probe settled stays.
			name: "killed after the probe, torn down by down",
			res: ended(Result{Lane: "kvm", Started: cellsDay, SeccompFromProbe: true, Probe: probed(true),
				Phases: passPhases(PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe)},
				func(r *Result) { r.Abandon("the run ended without a result; torn down by down", cellsDay) }),
			seccomp: matrix.Cell{Status: matrix.Pass, Text: "(probe)"}, live: matrix.Fail,
		},
		{
			// up's host torn down by down: its suite never ran.
			name: "kept host torn down by down",
			res: ended(Result{Outcome: Up, Kept: true, Lane: "kvm", Started: cellsDay, SeccompFromProbe: true, Probe: probed(false),
				Phases: passPhases(PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe)},
				func(r *Result) { r.EndKept("host kept by up, torn down by down; the suite was not run", cellsDay) }),
			seccomp: matrix.Cell{Status: matrix.NotRun}, live: matrix.NotRun,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := &tc.res
			if tc.outcome != "" {
				res = decided(tc.res)
				if res.Outcome != tc.outcome {
					t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, tc.outcome)
				}
			}
			row := res.Row()
			if got := row.Cell(matrix.SeccompProbe); got != tc.seccomp {
				t.Errorf("Seccomp probe cell %q, want %q", got, tc.seccomp)
			}
			if got := row.Cell(matrix.LiveCycle); got.Status != tc.live {
				t.Errorf("Live cycle cell %q, want %s", got, tc.live.Symbol())
			}
			if tc.firstFails == "" && res.FirstFailure != "" && res.Outcome == Verified {
				t.Errorf("a verified leg has a first failure %q", res.FirstFailure)
			}
			if tc.firstFails != "" {
				if !strings.Contains(res.FirstFailure, tc.firstFails) {
					t.Errorf("first failure %q, want %q in it", res.FirstFailure, tc.firstFails)
				}
				if !strings.Contains(row.Notes, tc.firstFails) {
					t.Errorf("notes %q do not say %q", row.Notes, tc.firstFails)
				}
			}
			if tc.notesAbsent != "" && strings.Contains(row.Notes, tc.notesAbsent) {
				t.Errorf("notes %q have %q", row.Notes, tc.notesAbsent)
			}
			// A ❌ cell is never a verified leg, nor an n/a one a host
			// the probe checked.
			if row.Has(matrix.Fail) && res.Outcome == Verified {
				t.Errorf("verified leg with a failed cell: %+v", row.Cells)
			}
		})
	}
}

// TestLiveCellVerifiedOnlyForAVerifiedLeg: the live cycle reads "✅
// verified DATE" for a verified leg and for no other; a live step (or a
// column-less one) not run names that step. A leg failed, or left
// incomplete, by another column's check (a Seccomp probe step) reads a
// bare ✅ when every live part passed: MVM-SUITE's Live cycle is "provision →
// cloud-init → KVM check → mvm smoke → mvmd smoke → teardown, all green",
// and the Seccomp probe is its own column, whose ❌ fails the leg (exit 1,
// its status a failure) — but no "verified", which the leg is not.
func TestLiveCellVerifiedOnlyForAVerifiedLeg(t *testing.T) {
	zero := StepResult{Name: "seccomp probe", Column: matrix.SeccompProbe, Status: matrix.NotRun, Reason: "running 0 tests is not run"}
	live := StepResult{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Pass}
	seccompFailed := StepResult{Name: "seccomp probe", Column: matrix.SeccompProbe, Status: matrix.Fail, Reason: "1 test failed: apply"}
	cases := []struct {
		name    string
		steps   []StepResult
		phases  []PhaseResult // nil: every phase passed
		outcome Outcome
		live    matrix.Cell
	}{
		{
			// The acceptance walk: running 0 tests under Seccomp probe,
			// 1 test passed under Live cycle.
			name: "seccomp ran 0 tests, live step passed", steps: []StepResult{zero, live},
			outcome: Incomplete, live: matrix.Cell{Status: matrix.Pass},
		},
		{
			name: "an env-gated skip in a column-less step", steps: []StepResult{live, {Name: "gated", Status: matrix.NotRun, Reason: "skipped"}},
			outcome: Incomplete, live: matrix.Cell{Status: matrix.NotRun, Text: "(gated not run)"},
		},
		{
			name: "live step not run", steps: []StepResult{{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.NotRun, Reason: "skipped"}},
			outcome: Incomplete, live: matrix.Cell{Status: matrix.NotRun, Text: "(smoke not run)"},
		},
		{
			name: "all passed", steps: []StepResult{live, {Name: "seccomp probe", Column: matrix.SeccompProbe, Status: matrix.Pass}},
			outcome: Verified, live: matrix.Cell{Status: matrix.Pass, Text: "verified 2026-11-30"},
		},
		{
			name: "seccomp step failed, live step passed", steps: []StepResult{seccompFailed, live},
			phases:  failIn(PhaseSuite, "1 of 2 steps failed: seccomp probe", allPhases...),
			outcome: Failed, live: matrix.Cell{Status: matrix.Pass},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			phases := tc.phases
			if phases == nil {
				phases = passPhases(allPhases...)
			}
			res := decided(Result{Lane: "kvm", Phases: phases, Steps: tc.steps})
			if res.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, tc.outcome)
			}
			if got := res.Row().Cell(matrix.LiveCycle); got != tc.live {
				t.Errorf("Live cycle cell %q, want %q", got, tc.live)
			}
		})
	}

	// Whatever the outcome, with every phase and step passed: only a
	// verified leg reads verified (a failed, errored or incomplete leg
	// where nothing the result holds failed or was left unrun cannot call
	// its live cycle green).
	for _, o := range []Outcome{Verified, Failed, Errored, Incomplete, Cancelled, TimedOut, Up} {
		res := Result{Outcome: o, Lane: "kvm", Started: cellsDay, Phases: passPhases(allPhases...), Steps: []StepResult{live}}
		c := res.Row().Cell(matrix.LiveCycle)
		if verified := c.Status == matrix.Pass || strings.Contains(c.Text, "verified"); verified != (o == Verified) {
			t.Errorf("outcome %s: Live cycle cell %q", o, c)
		}
	}
}

// TestRunSeccompFromProbe: a whole leg on a real host whose suite has one
// column-less step takes the Seccomp probe cell from the probe that ran
// there, in agreement with the outcome — not n/a.
func TestRunSeccompFromProbe(t *testing.T) {
	testhost.RequireRoot(t)
	// The no-KVM lane on a host without /dev/kvm: the leg does not depend
	// on whether this machine has KVM, and seccomp needs none.
	p := &hostProvider{hideKVM: true}
	plan := testPlan(p, Step{Name: "silent", Run: "sleep 0; echo done"})
	plan.Lane = "no-kvm"
	plan.Info = providers.Info{Name: "testhosts", Creates: true, Lanes: []string{"kvm", "no-kvm"}}
	plan.ProbeBinary = testProbeBinary(t)
	res := Run(context.Background(), plan)
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
	if !res.SeccompFromProbe {
		t.Errorf("a suite without a Seccomp probe step did not leave the column to the probe")
	}
	if res.Probe == nil {
		t.Fatalf("the probe did not report (outcome %s: %s)", res.Outcome, res.FirstFailure)
	}
	row := res.Row()
	want, outcome := matrix.Cell{Status: matrix.Pass, Text: "(probe)"}, Verified
	if !res.Probe.Seccomp.Enforced {
		// This machine enforces no seccomp filter: the leg says so.
		want, outcome = matrix.Cell{Status: matrix.Fail, Text: "(probe)"}, Failed
	}
	if res.Outcome != outcome {
		t.Fatalf("outcome %s (%s), want %s (probe: seccomp enforced %v)", res.Outcome, res.FirstFailure, outcome, res.Probe.Seccomp.Enforced)
	}
	if got := row.Cell(matrix.SeccompProbe); got != want {
		t.Errorf("Seccomp probe cell %q, want %q", got, want)
	}
}

// TestRunZeroTestsLiveCellIsNotVerified: the acceptance walk's second
// suite on a real host — running 0 tests under Seccomp probe and a passing
// live step — is incomplete, and its live cycle reads a bare ✅ (all its
// parts green), never "verified".
func TestRunZeroTestsLiveCellIsNotVerified(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	zero := `printf 'running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n'`
	one := `printf 'running 1 test\ntest smoke ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n'`
	plan := testPlan(p,
		Step{Name: "seccomp probe", Run: zero, Column: matrix.SeccompProbe, Parse: "libtest"},
		Step{Name: "smoke", Run: one, Column: matrix.LiveCycle, Parse: "libtest"},
	)
	res := Run(context.Background(), plan)
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
	if res.Outcome != Incomplete {
		t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, Incomplete)
	}
	if len(res.Steps) != 2 || res.Steps[1].Status != matrix.Pass {
		t.Fatalf("steps %+v, want the live step passed", res.Steps)
	}
	row := res.Row()
	if got, want := row.Cell(matrix.LiveCycle), (matrix.Cell{Status: matrix.Pass}); got != want {
		t.Errorf("Live cycle cell %q, want %q", got, want)
	}
	if got := row.Cell(matrix.SeccompProbe); got.Status != matrix.NotRun {
		t.Errorf("Seccomp probe cell %q, want —", got)
	}
}
