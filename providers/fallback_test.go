package providers

import (
	"testing"
	"time"
)

// TestDefaultBackoff: the wait before retry n on the same candidate is
// 1s, 2s, 4s, 8s, 16s, then 30s from there on, each plus a jitter of up to
// a quarter of it; calling the function is enough, nothing sleeps. Many
// draws per attempt make it all but certain both that every draw stays in
// bounds and that the jitter is there at all.
func TestDefaultBackoff(t *testing.T) {
	const draws = 200
	for attempt, base := range []time.Duration{
		time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second,
	} {
		lo, hi := base, base+base/4
		seen := map[time.Duration]bool{}
		for range draws {
			d := DefaultBackoff(attempt)
			if d < lo || d > hi {
				t.Fatalf("DefaultBackoff(%d) = %s, want within [%s, %s]", attempt, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("DefaultBackoff(%d) gave %d distinct waits in %d draws: no jitter", attempt, len(seen), draws)
		}
	}
	// Far past the cap the shift must not overflow into a huge or negative wait.
	for _, attempt := range []int{40, 63, 64, 1000} {
		if d := DefaultBackoff(attempt); d < 30*time.Second || d > 30*time.Second+30*time.Second/4 {
			t.Errorf("DefaultBackoff(%d) = %s, want 30s plus jitter", attempt, d)
		}
	}
}
