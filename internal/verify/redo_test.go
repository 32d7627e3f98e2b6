package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers"
)

// finishedResult is a leg that ended with a verdict: preflight, ready and
// the suite passed, its one step fed the live cycle, and the teardown
// ended as teardown says.
func finishedResult(outcome Outcome, teardown matrix.Status) *Result {
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	r := &Result{
		Provider: "local", Display: "Local", Outcome: outcome, Lane: "kvm", Started: start, Duration: time.Minute,
		Identity: providers.Identity{Key: "local", RunID: "1", Leg: "abc"},
		Steps:    []StepResult{{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Pass}},
	}
	for _, name := range []string{PhasePreflight, PhaseProvision, PhaseReady, PhaseSuite} {
		r.Phases = append(r.Phases, PhaseResult{Name: name, Status: matrix.Pass, Started: start})
	}
	td := PhaseResult{Name: PhaseTeardown, Status: teardown, Started: start}
	if teardown == matrix.Fail {
		td.Error = "userdel failed"
		r.FirstFailure = "teardown: userdel failed"
	}
	r.Phases = append(r.Phases, td)
	return r
}

func teardownPhases(r *Result) []PhaseResult {
	var out []PhaseResult
	for _, p := range r.Phases {
		if p.Name == PhaseTeardown {
			out = append(out, p)
		}
	}
	return out
}

// A finished leg whose teardown failed keeps its verdict when down redoes
// the teardown: outcome, cells and steps; the teardown phase is down's,
// one of it however often down ran; the notes say down redid it.
func TestRedoTeardownKeepsTheVerdict(t *testing.T) {
	r := finishedResult(Failed, matrix.Fail)
	if !r.Final() {
		t.Fatal("a failed leg's result is not final")
	}
	before := r.Row()
	at := time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC)
	r.RedoTeardown("down failed to redo the teardown", at, PhaseResult{Name: PhaseTeardown, Status: matrix.Fail, Error: "again"})
	r.RedoTeardown("teardown redone by down", at, PhaseResult{Name: PhaseTeardown, Status: matrix.Pass})
	if r.Outcome != Failed || !r.Final() {
		t.Errorf("outcome %s (final %v), want the leg's, failed", r.Outcome, r.Final())
	}
	if td := teardownPhases(r); len(td) != 1 || td[0].Status != matrix.Pass {
		t.Errorf("teardown phases %+v, want one, down's last, passed", td)
	}
	after := r.Row()
	for _, c := range []matrix.Column{matrix.Preflight, matrix.LiveCycle, matrix.SeccompProbe} {
		if after.Cell(c) != before.Cell(c) {
			t.Errorf("%s after the redo %+v, want the leg's %+v", c, after.Cell(c), before.Cell(c))
		}
	}
	// Down's note goes before the failure it follows, which a comment
	// would cut first, being at the end.
	if r.FirstFailure == "" || !strings.Contains(before.Notes, r.FirstFailure) {
		t.Fatalf("the leg's notes %q lack its first failure %q", before.Notes, r.FirstFailure)
	}
	if want := strings.Replace(before.Notes, r.FirstFailure, "teardown redone by down, "+r.FirstFailure, 1); after.Notes != want {
		t.Errorf("notes after the redo %q, want %q: the leg's with down's last note before its failure", after.Notes, want)
	}
	if !after.UpdatedAt.Equal(at) {
		t.Errorf("row updated at %v, want the redo's %v", after.UpdatedAt, at)
	}
}

// A verified leg whose teardown was not confirmed (deferred) stays
// verified when down's teardown passes; one whose redo fails is failed,
// as a failed teardown fails a leg in the cycle.
func TestRedoTeardownOfAVerifiedLeg(t *testing.T) {
	ok := finishedResult(Verified, matrix.Pass)
	ok.TeardownDeferred = true
	ok.RedoTeardown("teardown redone by down", time.Now(), PhaseResult{Name: PhaseTeardown, Status: matrix.Pass})
	if ok.Outcome != Verified || ok.TeardownDeferred || ok.Row().Cell(matrix.LiveCycle).Status != matrix.Pass {
		t.Errorf("outcome %s, deferred %v, live %+v; want verified, confirmed, ✅", ok.Outcome, ok.TeardownDeferred, ok.Row().Cell(matrix.LiveCycle))
	}
	bad := finishedResult(Verified, matrix.Pass)
	bad.RedoTeardown("down failed to redo the teardown", time.Now(), PhaseResult{Name: PhaseTeardown, Status: matrix.Fail, Error: "leak"})
	if bad.Outcome != Failed || bad.Row().Cell(matrix.LiveCycle).Status != matrix.Fail || bad.FirstFailure != "teardown: leak" {
		t.Errorf("outcome %s, live %+v, first failure %q; want failed, ❌, the teardown's error", bad.Outcome, bad.Row().Cell(matrix.LiveCycle), bad.FirstFailure)
	}
}

// A leg down ends without a verdict (a kept host, a killed run) has one
// teardown phase however often down had to try.
func TestEndingReplacesTheTeardown(t *testing.T) {
	for name, end := range map[string]func(*Result, string, time.Time, ...PhaseResult){
		"kept": (*Result).EndKept, "killed": (*Result).Abandon,
	} {
		r := &Result{Phases: []PhaseResult{{Name: PhasePreflight, Status: matrix.Pass}}}
		end(r, "failed", time.Now(), PhaseResult{Name: PhaseTeardown, Status: matrix.Fail})
		end(r, "done", time.Now(), PhaseResult{Name: PhaseTeardown, Status: matrix.Pass})
		if td := teardownPhases(r); len(td) != 1 || td[0].Status != matrix.Pass {
			t.Errorf("%s: teardown phases %+v, want one, the last, passed", name, td)
		}
		if r.Final() {
			t.Errorf("%s: an ended leg's result reads as a final verdict", name)
		}
	}
}
