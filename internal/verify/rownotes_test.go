package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers"
)

// TestRowCellsNoKVMFailure: the no-KVM lane's Live cycle reads n/a only
// when no part of the live cycle failed; a failed phase, or a failed step
// of the cycle's own (a column-less build, a Live cycle step), is a
// failure there, never "n/a (no KVM)", which would read as a clean leg.
// (A failed step of another column is that column's: see
// TestLiveCellIgnoresOtherColumns.)
func TestRowCellsNoKVMFailure(t *testing.T) {
	cases := []struct {
		name string
		res  Result
	}{
		{
			name: "failed step",
			res: Result{Outcome: Failed, Lane: "no-kvm", FirstFailure: "build: exit status 1",
				Phases: failIn(PhaseSuite, "1 of 2 steps failed: build", allPhases...),
				Steps: []StepResult{
					{Name: "build", Status: matrix.Fail, Reason: "exit status 1"},
					{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.NA},
				}},
		},
		{
			name: "failed phase",
			res: Result{Outcome: Errored, Lane: "no-kvm", FirstFailure: "ready: bootstrap exited 3",
				Phases: append(passPhases(PhasePreflight, PhaseProvision),
					PhaseResult{Name: PhaseReady, Status: matrix.Fail, Error: "bootstrap exited 3"},
					PhaseResult{Name: PhaseTeardown, Status: matrix.Pass})},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.res.Started = time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)
			c := tc.res.Row().Cell(matrix.LiveCycle)
			if c.Status != matrix.Fail {
				t.Errorf("Live cycle %+v, want ❌ for a no-KVM leg that failed", c)
			}
			if strings.Contains(c.Text, "no KVM") {
				t.Errorf("Live cycle text %q excuses a failure as the lane's n/a", c.Text)
			}
		})
	}
}

// TestNotesRefusalWithLeaks: a refusal is the whole note only when nothing
// is left behind; leaked resources are always named.
func TestNotesRefusalWithLeaks(t *testing.T) {
	res := Result{
		Outcome: Errored, Refusal: "Needs AWS credentials: set AWS_ACCESS_KEY_ID",
		FirstFailure: "preflight: auth: Needs AWS credentials: set AWS_ACCESS_KEY_ID",
		Phases:       []PhaseResult{{Name: PhasePreflight, Status: matrix.Fail}},
		Leaks:        []providers.Resource{{Kind: "instance", ID: "i-0abc"}, {Kind: "volume", ID: "vol-0def"}},
	}
	if got := res.Row().Notes; !strings.Contains(got, "LEAKED: i-0abc, vol-0def") {
		t.Errorf("notes %q do not name the leaked resources", got)
	}
}
