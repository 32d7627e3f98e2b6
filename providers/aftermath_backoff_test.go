package providers

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A transient failure whose backoff is cut short by the end of the context
// is not retried: the attempt says it was left to the teardown, not
// "retried on the same candidate", and Create is not called again.
func TestAttemptAftermathBackoffCancelled(t *testing.T) {
	throttle := Classified(ClassTransient, "RequestLimitExceeded", errors.New("slow down"))
	p := &scripted{script: []error{throttle}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleep := func(ctx context.Context, _ time.Duration) error {
		cancel() // the run is cancelled while it backs off
		return ctx.Err()
	}
	_, attempts, err := CreateWithFallback(ctx, p, Request{}, []Candidate{{Region: "r1"}, {Region: "r2"}}, nil,
		FallbackOptions{Sleep: sleep})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if len(attempts) != 1 || attempts[0].Aftermath != AttemptLeftToTeardown || attempts[0].CleanedUp {
		t.Errorf("attempts = %+v, want one, left to the teardown", attempts)
	}
	if len(p.calls) != 1 || p.destroys != 0 {
		t.Errorf("%d Create calls and %d destroys, want 1 and 0: no retry, the teardown deletes", len(p.calls), p.destroys)
	}
}
