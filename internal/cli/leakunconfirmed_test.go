package cli_test

import (
	"strings"
	"testing"
	"time"
)

// TestPostLeakCheckNotConfirmed: the post step of a leg created moments
// ago (EC2's listings may not show its resources yet) whose budget leaves
// room for one listing only: nothing listed is not passed off as a clean
// teardown. No sweep comes after the post step, so it fails (exit 1) and
// its summary says the leak check was not confirmed, not that nothing is
// left. The poll interval is longer than the teardown budget, so the
// check stops after its first listing instead of waiting.
func TestPostLeakCheckNotConfirmed(t *testing.T) {
	l := newAWSLeg(t)
	now := time.Now().UTC().Truncate(time.Second)
	l.id.CreatedAt = now // young: inside the adapter's lag window
	for i, e := range l.env {
		if strings.HasPrefix(e, "MVM_VERIFY_POLL_INTERVAL=") {
			l.env[i] = "MVM_VERIFY_POLL_INTERVAL=10m"
		}
	}
	summary := emptyFile(t, "summary")
	out, code := l.post(t, summary, "INPUT_TEARDOWN-BUDGET=1m")
	if code != 1 {
		t.Errorf("post: exit %d, want 1\n%s", code, out)
	}
	sum := readFile(t, summary)
	if !strings.Contains(sum, "- ⏳ leak check not confirmed on aws: 1 empty listing(s) before the deadline") {
		t.Errorf("post's summary does not say the leak check was not confirmed:\n%s\noutput:\n%s", sum, out)
	}
	if strings.Contains(sum, "nothing tagged with this run is left") {
		t.Errorf("post's summary says nothing is left after one listing of a young run:\n%s", sum)
	}
}
