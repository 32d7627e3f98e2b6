package ghreport

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestConcurrentLegsFinishingAtOnceLoseNoRows is the concurrency test with
// no stagger at all: the 8 legs Start at once, wait until every one of
// them is back from Start, and then all Finish at once, 50 times. So every
// final write is built from reads made in the same instant and lands among
// the others' (the adversarial fake holds half of them up to
// GitHubRequestLimit and serves reads up to shortStaleLag stale), the case
// where a write that does not read back and retry drops the rows of the
// legs whose writes landed before it. One more leg posts its pending status
// and dies before writing its row. Every trial must end with one comment
// holding each leg's own final row and the dead leg's row ⏳ from its
// status.
//
// Checked against a mutation in a scratch copy: with confirmRow returning
// as soon as its write is answered (no read back, no retry), trials lose
// rows in every run.
//
// The seeds differ from run to run (trialSeedBase); a failing trial logs
// its seed and the base to replay it with.
func TestConcurrentLegsFinishingAtOnceLoseNoRows(t *testing.T) {
	legsRace(t, legsRaceOpts{maxDelay: 3 * time.Millisecond, staleLag: shortStaleLag, holdShare: 0.5,
		killed: 1, trials: 50, speedup: shortSpeedup, mod: shortSettings, finishTogether: true})
}

// trialSeedEnv names the variable that replays a run of randomized trials:
// set to the base seed a run logged, it makes the trials draw the same
// delays, staleness, holds and jitter again.
const trialSeedEnv = "MVM_VERIFY_TRIAL_SEED"

// trialSeedBase is the seed trial 0 of a randomized test uses (trial n
// uses base+n): from trialSeedEnv if set, else new for every run, so that
// repeated runs (CI, -count) try new interleavings rather than replay the
// same ones. It logs the base so a failure can be replayed.
func trialSeedBase(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv(trialSeedEnv); s != "" {
		base, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want the base seed a run logged, a decimal number from 0 to %d", trialSeedEnv, s, uint64(1<<64-1))
		}
		t.Logf("base seed %d from %s", base, trialSeedEnv)
		return base
	}
	base := rand.Uint64()
	t.Logf("base seed %d; replay with %s=%d", base, trialSeedEnv, base)
	return base
}
