package providers

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// cancelledMidCreate cancels the run's context inside Create and answers
// with err, as when SIGINT arrives while a cloud reports no capacity. It
// records whether each Destroy had a live context.
type cancelledMidCreate struct {
	scripted
	cancel      func()
	err         error
	destroyLive []bool
}

func (c *cancelledMidCreate) Create(ctx context.Context, req Request, j Journal) (*Host, error) {
	c.scripted.Create(ctx, req, j)
	c.cancel()
	return nil, c.err
}

func (c *cancelledMidCreate) Destroy(ctx context.Context, id Identity) (Report, error) {
	c.destroyLive = append(c.destroyLive, ctx.Err() == nil)
	return c.scripted.Destroy(ctx, id)
}

// TestCreateWithFallbackStopsWhenCancelledDuringCreate: a Create that
// fails for capacity or quota after the run was cancelled ends the loop
// there. The partial attempt is not destroyed with the dead context (the
// cycle's cleanup destroys it by tag with a live one), no further
// candidate is created, and the provider's error is returned naming the
// candidate; the cycle reads the cancellation from its own context.
func TestCreateWithFallbackStopsWhenCancelledDuringCreate(t *testing.T) {
	for _, class := range []Class{ClassCapacity, ClassQuota, ClassTransient} {
		t.Run(class.String(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			createErr := Classified(class, "NoRoom", errors.New("no room in us-east-1a"))
			p := &cancelledMidCreate{cancel: cancel, err: createErr}
			cands := []Candidate{{Region: "us-east-1", Type: "c8i.large"}, {Region: "eu-west-1", Type: "c8i.large"}}
			h, attempts, err := CreateWithFallback(ctx, p, Request{}, cands, nil, FallbackOptions{Sleep: noSleep})
			if err == nil || h != nil {
				t.Fatalf("host %v, err %v: want no host and an error", h, err)
			}
			if len(p.destroyLive) != 0 {
				t.Errorf("Destroy called %d times (live context: %v), want none: the caller's cleanup destroys with a live context",
					len(p.destroyLive), p.destroyLive)
			}
			if len(p.calls) != 1 {
				t.Errorf("Create called for %v, want only the first candidate", p.calls)
			}
			if len(attempts) != 1 || attempts[0].CleanedUp || attempts[0].Class != class {
				t.Errorf("attempts = %+v, want one %s attempt not cleaned up", attempts, class)
			}
			if !errors.Is(err, createErr) {
				t.Errorf("err = %v, want it to wrap the provider's error", err)
			}
			if !strings.Contains(err.Error(), "us-east-1 c8i.large") {
				t.Errorf("err = %v, want it to name the candidate", err)
			}
		})
	}
}
