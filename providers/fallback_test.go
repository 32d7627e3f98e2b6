package providers

import (
	"context"
	"errors"
	"strings"
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

// undeletable is scripted whose Destroy fails, as with deletes denied.
type undeletable struct {
	scripted
	err error
}

func (u *undeletable) Destroy(ctx context.Context, id Identity) (Report, error) {
	u.scripted.Destroy(ctx, id)
	return Report{}, u.err
}

// TestCreateWithFallbackStopsWhenCleanupFails: a candidate out of capacity
// whose partial attempt cannot be destroyed ends the loop there. Trying
// the next candidate (perhaps in another region) would leave one more
// partial attempt behind per candidate; the error says which candidate
// failed and that its cleanup did, with the cleanup's class, not the
// capacity's, so nothing reads it as a reason to try elsewhere.
func TestCreateWithFallbackStopsWhenCleanupFails(t *testing.T) {
	p := &undeletable{
		scripted: scripted{script: []error{Classified(ClassCapacity, "InsufficientInstanceCapacity", errors.New("no room"))}},
		err:      Classified(ClassAuth, "UnauthorizedOperation", errors.New("not allowed to delete security group sg-1")),
	}
	cands := []Candidate{{Region: "us-east-1", Type: "c8i.large"}, {Region: "eu-west-1", Type: "c8i.large"}}
	h, attempts, err := CreateWithFallback(context.Background(), p, Request{}, cands, nil, FallbackOptions{Sleep: noSleep})
	if err == nil || h != nil {
		t.Fatalf("host %v, err %v: want no host and an error", h, err)
	}
	if len(p.calls) != 1 || p.destroys != 1 {
		t.Errorf("creates %v, destroys %d: want only the first candidate created, then one destroy", p.calls, p.destroys)
	}
	for _, want := range []string{"us-east-1 c8i.large", "no room", "cleaning up that attempt failed", "not allowed to delete security group sg-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if c := ClassOf(err); c != ClassAuth {
		t.Errorf("class %s, want the cleanup's (auth)", c)
	}
	if len(attempts) != 1 || attempts[0].CleanedUp || attempts[0].Class != ClassCapacity {
		t.Errorf("attempts %+v, want the one capacity attempt, not cleaned up", attempts)
	}

	// A cleanup failing for capacity (or quota, or transiently) must not
	// read as a reason to try another candidate either.
	p = &undeletable{
		scripted: scripted{script: []error{Classified(ClassQuota, "VcpuLimitExceeded", errors.New("over quota"))}},
		err:      Classified(ClassTransient, "RequestLimitExceeded", errors.New("throttled")),
	}
	_, _, err = CreateWithFallback(context.Background(), p, Request{}, cands, nil, FallbackOptions{Sleep: noSleep})
	if len(p.calls) != 1 || ClassOf(err) != ClassUnknown {
		t.Errorf("creates %v, class %s: want one create and class unknown", p.calls, ClassOf(err))
	}
}
