package cli

import (
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
)

// The reporting counts against timeout-minutes: the cycle gets what is left
// after the time already spent and the reserve for the final report, so
// start report + cycle + final report fit the step's timeout.
func TestCycleTimeoutLeavesRoomForReporting(t *testing.T) {
	run := &config.Run{TimeoutMinutes: 30, TeardownBudget: 5 * time.Minute}
	for _, c := range []struct {
		name      string
		reporting bool
		elapsed   time.Duration
		want      time.Duration
	}{
		{"no reporting", false, 2 * time.Second, 30 * time.Minute},
		{"start report took its whole budget", true, startBudget, 30*time.Minute - startBudget - finishReserve},
		{"reporting, quick start", true, 2*time.Second + time.Millisecond, 30*time.Minute - 3*time.Second - finishReserve},
		// Config lets timeout-minutes be as small as the teardown budget
		// plus a minute; the cycle never gets less than that.
		{"too tight", true, 29 * time.Minute, 6 * time.Minute},
	} {
		got := cycleTimeout(run, c.reporting, c.elapsed)
		if got != c.want {
			t.Errorf("%s: cycle timeout %s, want %s", c.name, got, c.want)
		}
		if c.reporting && c.name != "too tight" && c.elapsed+got+finishReserve > 30*time.Minute {
			t.Errorf("%s: start %s + cycle %s + final report exceed timeout-minutes", c.name, c.elapsed, got)
		}
	}
	// Each reporting call may wait out rate limits only within its share,
	// leaving time for the requests themselves.
	for _, d := range []time.Duration{startBudget, progressBudget, finishReserve} {
		if w := waitShare(d); w <= 0 || w >= d {
			t.Errorf("wait share of %s is %s", d, w)
		}
	}
}
