package verify

import (
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// TestLiveCellIgnoresOtherColumns: MVM-SUITE's Live cycle is "provision →
// cloud-init → KVM check → mvm smoke → mvmd smoke → teardown, all green";
// the Seccomp probe is its own column. A failed Seccomp probe step fails
// that column and the leg (outcome failed, so exit 1) but not the live
// cycle, which reads what its own parts — the phases, the Live cycle steps
// and the column-less ones (build) — read: ✅ on the KVM lane (no
// "verified": the leg is not), and the no-KVM lane's n/a, as the seed's
// Hetzner row. A failure among those parts still reads ❌ on both lanes.
func TestLiveCellIgnoresOtherColumns(t *testing.T) {
	seccompFailed := StepResult{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.Fail, Reason: "1 test failed: apply"}
	build := StepResult{Name: "build", Status: matrix.Pass}
	buildFailed := StepResult{Name: "build", Status: matrix.Fail, Reason: "exit status 101"}
	smoke := StepResult{Name: "mvm smoke", Column: matrix.LiveCycle, Status: matrix.Pass}
	smokeNA := StepResult{Name: "mvm smoke", Column: matrix.LiveCycle, Status: matrix.NA, Reason: "needs KVM; this is the no-KVM lane"}
	suiteFailed := func(names string) []PhaseResult {
		return failIn(PhaseSuite, "steps failed: "+names, allPhases...)
	}
	cases := []struct {
		name string
		res  Result
		live matrix.Cell
	}{
		{
			name: "kvm: seccomp failed, live parts passed",
			res:  Result{Lane: "kvm", Phases: suiteFailed("seccomp"), Steps: []StepResult{build, seccompFailed, smoke}},
			live: matrix.Cell{Status: matrix.Pass},
		},
		{
			name: "no-kvm: seccomp failed, live parts passed",
			res:  Result{Lane: "no-kvm", Phases: suiteFailed("seccomp"), Steps: []StepResult{build, seccompFailed, smokeNA}},
			live: matrix.Cell{Status: matrix.NA, Text: "(no KVM)"},
		},
		{
			name: "kvm: the probe's seccomp check failed, standing for the column",
			res:  Result{Lane: "kvm", SeccompFromProbe: true, Probe: probed(false), Phases: passPhases(allPhases...), Steps: []StepResult{build, smoke}},
			live: matrix.Cell{Status: matrix.Pass},
		},
		{
			name: "kvm: seccomp and a live step failed",
			res: Result{Lane: "kvm", Phases: suiteFailed("seccomp, mvm smoke"),
				Steps: []StepResult{build, seccompFailed, {Name: "mvm smoke", Column: matrix.LiveCycle, Status: matrix.Fail, Reason: "exit status 1"}}},
			live: matrix.Cell{Status: matrix.Fail},
		},
		{
			name: "kvm: seccomp and a column-less step failed",
			res:  Result{Lane: "kvm", Phases: suiteFailed("build, seccomp"), Steps: []StepResult{buildFailed, seccompFailed, smoke}},
			live: matrix.Cell{Status: matrix.Fail},
		},
		{
			name: "no-kvm: seccomp and a column-less step failed",
			res:  Result{Lane: "no-kvm", Phases: suiteFailed("build, seccomp"), Steps: []StepResult{buildFailed, seccompFailed, smokeNA}},
			live: matrix.Cell{Status: matrix.Fail},
		},
		{
			name: "kvm: seccomp failed, then the teardown",
			res: Result{Lane: "kvm", Steps: []StepResult{build, seccompFailed, smoke},
				Phases: func() []PhaseResult {
					p := suiteFailed("seccomp")
					p[len(p)-1].Status, p[len(p)-1].Error = matrix.Fail, "leak check: i-0abc left"
					return p
				}()},
			live: matrix.Cell{Status: matrix.Fail},
		},
		{
			name: "no-kvm: seccomp failed, the probe phase failed",
			res: Result{Lane: "no-kvm", Steps: []StepResult{build, seccompFailed, smokeNA},
				Phases: func() []PhaseResult {
					p := suiteFailed("seccomp")
					p[3].Status, p[3].Error = matrix.Fail, "probe: exit status 2"
					return p
				}()},
			live: matrix.Cell{Status: matrix.Fail},
		},
		{
			// The connection went after the seccomp step: the live step
			// has no verdict, and the suite phase failed for that.
			name: "kvm: seccomp failed, then the connection was lost",
			res: Result{Lane: "kvm", Phases: failIn(PhaseSuite, "SSH connection lost; not run: mvm smoke", allPhases...),
				ConnectionLost: "step \"seccomp\": SSH connection lost",
				Steps:          []StepResult{build, seccompFailed, {Name: "mvm smoke", Column: matrix.LiveCycle, Status: matrix.NotRun, Reason: "SSH connection lost"}}},
			live: matrix.Cell{Status: matrix.Fail},
		},
		{
			name: "kvm: seccomp failed, a live step not run",
			res: Result{Lane: "kvm", Phases: suiteFailed("seccomp"),
				Steps: []StepResult{build, seccompFailed, {Name: "mvm smoke", Column: matrix.LiveCycle, Status: matrix.NotRun, Reason: "skipped"}}},
			live: matrix.Cell{Status: matrix.NotRun, Text: "(mvm smoke not run)"},
		},
		{
			name: "kvm: seccomp failed, a column-less step not run",
			res: Result{Lane: "kvm", Phases: suiteFailed("seccomp"),
				Steps: []StepResult{{Name: "build", Status: matrix.NotRun, Reason: "skipped"}, seccompFailed, smoke}},
			live: matrix.Cell{Status: matrix.NotRun, Text: "(build not run)"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := decided(tc.res)
			// The leg's verdict is unchanged: a failed check of any
			// column fails it.
			if res.Outcome != Failed {
				t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, Failed)
			}
			row := res.Row()
			if got := row.Cell(matrix.LiveCycle); got != tc.live {
				t.Errorf("Live cycle cell %q, want %q", got, tc.live)
			}
			if got := row.Cell(matrix.SeccompProbe); got.Status != matrix.Fail {
				t.Errorf("Seccomp probe cell %q, want ❌", got)
			}
		})
	}
}
