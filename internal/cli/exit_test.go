package cli

import (
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// TestExitStatus: a refused preflight and an SSH host never got into are
// "could not start" (2); a cancel or the time limit is 1 even when it cut
// the preflight short, since nothing about the inputs was refused.
func TestExitStatus(t *testing.T) {
	preflight := func(st matrix.Status, stopped bool) []verify.PhaseResult {
		return []verify.PhaseResult{{Name: verify.PhasePreflight, Status: st, Stopped: stopped}}
	}
	for _, tc := range []struct {
		name string
		res  verify.Result
		want int
	}{
		{"verified", verify.Result{Outcome: verify.Verified, Phases: preflight(matrix.Pass, false)}, ExitOK},
		{"up", verify.Result{Outcome: verify.Up, Phases: preflight(matrix.Pass, false)}, ExitOK},
		{"preflight refused", verify.Result{Outcome: verify.Errored, Phases: preflight(matrix.Fail, false)}, ExitBadInput},
		{"ssh never got in", verify.Result{Outcome: verify.Errored, CouldNotStart: true, Phases: preflight(matrix.Pass, false)}, ExitBadInput},
		{"cancelled during the preflight", verify.Result{Outcome: verify.Cancelled, Phases: preflight(matrix.Fail, true)}, ExitFailed},
		{"timed out during the preflight", verify.Result{Outcome: verify.TimedOut, Phases: preflight(matrix.Fail, true)}, ExitFailed},
		{"suite failed", verify.Result{Outcome: verify.Failed, Phases: preflight(matrix.Pass, false)}, ExitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitStatus(&tc.res); got != tc.want {
				t.Errorf("exitStatus = %d, want %d", got, tc.want)
			}
		})
	}
}
