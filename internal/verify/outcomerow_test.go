package verify

import (
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// TestRowKeepsAnOutcomeItsPartsNoLongerShow: a result whose outcome was
// decided by a part it no longer holds — down redid the run's failed
// teardown, so the result keeps the run's outcome with down's passed
// teardown — is still never all green, on either lane: on the no-KVM lane
// the Live cycle reads ❌, not the lane's n/a, as on the kvm lane.
func TestRowKeepsAnOutcomeItsPartsNoLongerShow(t *testing.T) {
	for _, lane := range []string{"kvm", "no-kvm"} {
		for _, outcome := range []Outcome{Failed, Errored} {
			res := Result{Lane: lane, Outcome: outcome, Started: cellsDay, Phases: passPhases(allPhases...),
				Steps: []StepResult{{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Pass}}}
			row := res.Row()
			if got := row.Cell(matrix.LiveCycle).Status; got != matrix.Fail {
				t.Errorf("%s lane, outcome %s with every part passed: Live cycle %s, want ❌", lane, outcome, row.Cell(matrix.LiveCycle))
			}
			if !row.Has(matrix.Fail) {
				t.Errorf("%s lane, outcome %s: row %s has no ❌ for a leg that did not pass", lane, outcome, describeRow(row))
			}
		}
	}
}
