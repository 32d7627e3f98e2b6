package providers

import (
	"context"
	"errors"
	"testing"
)

// TestAttemptAftermath: every failed attempt says what became of what it
// created, in the words of what CreateWithFallback really did: destroyed
// before the next candidate, not destroyed (with why), retried on the
// same candidate, a zone the provider moved past inside one Create, or
// left to the cycle's teardown because the loop stopped there.
func TestAttemptAftermath(t *testing.T) {
	capErr := Classified(ClassCapacity, "InsufficientInstanceCapacity", errors.New("no room"))
	throttle := Classified(ClassTransient, "RequestLimitExceeded", errors.New("slow down"))
	authErr := Classified(ClassAuth, "AuthFailure", errors.New("bad key"))
	denied := Classified(ClassAuth, "UnauthorizedOperation", errors.New("not allowed to delete security group sg-1"))
	two := []Candidate{{Region: "r1"}, {Region: "r2"}}

	type want struct {
		after   Aftermath
		cleaned bool
		cleanup string
	}
	ok := want{}
	tests := []struct {
		name  string
		p     Provider
		cands []Candidate
		opts  FallbackOptions
		want  []want
	}{
		{name: "capacity, then the next candidate", p: &scripted{script: []error{capErr}}, cands: two,
			want: []want{{after: AttemptDeleted, cleaned: true}, ok}},
		{name: "throttled twice on the same candidate", p: &scripted{script: []error{throttle, throttle}}, cands: two,
			want: []want{{after: AttemptRetried}, {after: AttemptRetried}, ok}},
		{name: "throttled past the retries, then the next candidate", p: &scripted{script: []error{throttle, throttle}}, cands: two,
			opts: FallbackOptions{MaxTransient: 1},
			want: []want{{after: AttemptRetried}, {after: AttemptDeleted, cleaned: true}, ok}},
		{name: "the cleanup fails", p: &undeletable{scripted: scripted{script: []error{capErr}}, err: denied}, cands: two,
			want: []want{{after: AttemptNotDeleted, cleanup: "not allowed to delete security group sg-1 (UnauthorizedOperation)"}}},
		{name: "auth stops the loop", p: &scripted{script: []error{authErr}}, cands: two,
			want: []want{{after: AttemptLeftToTeardown}}},
		{name: "a zone tried inside one Create", p: &zoned{}, cands: []Candidate{{}},
			want: []want{{after: AttemptNextPlacement}, ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Sleep = noSleep
			_, attempts, _ := CreateWithFallback(context.Background(), tt.p, Request{}, tt.cands, nil, tt.opts)
			if len(attempts) != len(tt.want) {
				t.Fatalf("attempts = %+v, want %d", attempts, len(tt.want))
			}
			for i, w := range tt.want {
				a := attempts[i]
				if a.Aftermath != w.after || a.CleanedUp != w.cleaned || a.CleanupError != w.cleanup {
					t.Errorf("attempt %d: aftermath %q, cleaned up %v, cleanup error %q; want %q, %v, %q",
						i+1, a.Aftermath, a.CleanedUp, a.CleanupError, w.after, w.cleaned, w.cleanup)
				}
				if (w == ok) != a.OK {
					t.Errorf("attempt %d: ok = %v", i+1, a.OK)
				}
			}
		})
	}

	// Cancelled during Create: nothing is destroyed in the loop, the
	// teardown does it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, attempts, _ := CreateWithFallback(ctx, &scripted{cancel: cancel}, Request{}, two, nil, FallbackOptions{Sleep: noSleep})
	if len(attempts) != 1 || attempts[0].Aftermath != AttemptLeftToTeardown || attempts[0].CleanedUp {
		t.Errorf("cancelled: attempts %+v, want one left to the teardown", attempts)
	}
}
