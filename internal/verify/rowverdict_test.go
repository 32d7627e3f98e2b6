package verify

import (
	"fmt"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// TestPreflightStepFoldsIntoItsCell: a suite step may feed the Preflight
// column; its failure is that column's ❌ and a step left unrun its —,
// as for any other column. The acceptance walk found a failed Preflight
// step reading all ✅ — and so a commit status of success on a failed leg.
func TestPreflightStepFoldsIntoItsCell(t *testing.T) {
	live := StepResult{Name: "live", Column: matrix.LiveCycle, Status: matrix.Pass}
	for _, tc := range []struct {
		name      string
		pre       StepResult
		lane      string
		outcome   Outcome
		preflight matrix.Status
		liveCell  matrix.Status
	}{
		{name: "failed", pre: StepResult{Name: "pre", Column: matrix.Preflight, Status: matrix.Fail, Reason: "exit status 5"},
			lane: "kvm", outcome: Failed, preflight: matrix.Fail, liveCell: matrix.Pass},
		{name: "failed on the no-KVM lane", pre: StepResult{Name: "pre", Column: matrix.Preflight, Status: matrix.Fail, Reason: "exit status 5"},
			lane: "no-kvm", outcome: Failed, preflight: matrix.Fail, liveCell: matrix.NA},
		{name: "not run", pre: StepResult{Name: "pre", Column: matrix.Preflight, Status: matrix.NotRun, Reason: "no PASS line"},
			lane: "kvm", outcome: Incomplete, preflight: matrix.NotRun, liveCell: matrix.Pass},
		{name: "passed", pre: StepResult{Name: "pre", Column: matrix.Preflight, Status: matrix.Pass},
			lane: "kvm", outcome: Verified, preflight: matrix.Pass, liveCell: matrix.Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			phases := passPhases(allPhases...)
			if tc.pre.Status == matrix.Fail {
				phases = failIn(PhaseSuite, "1 of 2 steps failed: pre", allPhases...)
			}
			res := decided(Result{Lane: tc.lane, Phases: phases, Steps: []StepResult{tc.pre, live}})
			if res.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, tc.outcome)
			}
			row := res.Row()
			if got := row.Cell(matrix.Preflight).Status; got != tc.preflight {
				t.Errorf("Preflight %q, want %q", got.Symbol(), tc.preflight.Symbol())
			}
			if got := row.Cell(matrix.LiveCycle).Status; got != tc.liveCell {
				t.Errorf("Live cycle %q, want %q", row.Cell(matrix.LiveCycle), tc.liveCell.Symbol())
			}
		})
	}
}

// TestRowOfALegNotVerifiedIsNeverAllGreen: a commit status and the matrix
// are built from the row alone, so whatever the steps and their columns,
// on either lane, a leg that ended failed, errored or incomplete has a ❌
// or a — somewhere in its row, and a verified one has neither. A step is
// n/a only on the no-KVM lane (a step that needs KVM there).
func TestRowOfALegNotVerifiedIsNeverAllGreen(t *testing.T) {
	columns := []matrix.Column{"", matrix.Preflight, matrix.LiveCycle, matrix.SeccompProbe}
	for _, lane := range []string{"kvm", "no-kvm"} {
		statuses := []matrix.Status{matrix.Pass, matrix.Fail, matrix.NotRun}
		if lane == "no-kvm" {
			statuses = append(statuses, matrix.NA)
		}
		for _, c1 := range columns {
			for _, s1 := range statuses {
				for _, c2 := range columns {
					for _, s2 := range statuses {
						steps := []StepResult{{Name: "one", Column: c1, Status: s1}, {Name: "two", Column: c2, Status: s2}}
						phases := passPhases(allPhases...)
						if s1 == matrix.Fail || s2 == matrix.Fail {
							phases = failIn(PhaseSuite, "steps failed", allPhases...)
						}
						res := decided(Result{Lane: lane, Phases: phases, Steps: steps})
						row := res.Row()
						red := row.Has(matrix.Fail) || row.Has(matrix.NotRun)
						if red == (res.Outcome == Verified) {
							t.Errorf("%s lane, steps %s: outcome %s, row %s", lane, describeSteps(steps), res.Outcome, describeRow(row))
						}
					}
				}
			}
		}
	}
}

func describeSteps(steps []StepResult) string {
	out := ""
	for _, s := range steps {
		out += fmt.Sprintf("[%q %s] ", s.Column, s.Status.Symbol())
	}
	return out
}

func describeRow(row matrix.Row) string {
	out := ""
	for _, c := range matrix.Columns() {
		out += fmt.Sprintf("%s=%s ", c, row.Cell(c))
	}
	return out
}
