package providers

import (
	"context"
	"testing"
	"time"
)

// pacedLagging is a lagging provider polling every interval.
type pacedLagging struct {
	lagging
	interval time.Duration
}

func (p pacedLagging) PollInterval() time.Duration { return p.interval }

// plain is a provider that says nothing of its pace: LeakCheck's default
// interval, and one empty listing is enough.
type plain struct{ Provider }

// TestLeakCheckReserve: the deletes of a teardown keep all but a quarter
// of its time, unless the leak check needs more to confirm an empty
// listing (a young run's quiet listings a poll apart) and the deletes
// would still have half: then the check gets what it needs.
func TestLeakCheckReserve(t *testing.T) {
	young := Identity{RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "aaaa", CreatedAt: time.Now()}
	old := young
	old.CreatedAt = time.Now().Add(-time.Hour)
	aws := pacedLagging{lagging{&scripted{}}, 5 * time.Second}
	for _, tc := range []struct {
		name string
		p    Provider
		id   Identity
		left time.Duration
		want time.Duration
	}{
		{"young run, a minute: the share covers three listings", aws, young, time.Minute, 15 * time.Second},
		{"young run, 40 s: the listings need more than the share", aws, young, 40 * time.Second, 15 * time.Second},
		{"young run, 20 s: the listings would take more than half", aws, young, 20 * time.Second, 5 * time.Second},
		{"cancel budget after a signal: the share", aws, young, 7 * time.Second, 7 * time.Second / LeakCheckShare},
		{"old run: one listing", aws, old, 40 * time.Second, 10 * time.Second},
		{"no pace said: the default interval", plain{&scripted{}}, young, 4 * time.Second, defaultLeakInterval},
		{"no time left", aws, young, 0, 0},
	} {
		if got := LeakCheckReserve(tc.p, tc.id, tc.left); got != tc.want {
			t.Errorf("%s: reserve %s of %s, want %s", tc.name, got, tc.left, tc.want)
		}
	}
}

// TestReservedLeakCheckConfirmsAfterAGreedyDestroy: a Destroy that uses
// all the time it is given still leaves the leak check of a young run
// enough for its quiet listings, so a clean teardown is confirmed clean
// rather than unconfirmed (ErrLeakCheckUnconfirmed). The destroy here
// waits until its context ends, as one whose own quiet sweeps ran to the
// deadline would.
func TestReservedLeakCheckConfirmsAfterAGreedyDestroy(t *testing.T) {
	young := Identity{RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "aaaa", CreatedAt: time.Now()}
	p := pacedLagging{lagging{&scripted{}}, time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	dctx, dcancel := ReserveLeakCheck(ctx, p, young)
	<-dctx.Done() // the greedy destroy
	dcancel()
	if ctx.Err() != nil {
		t.Fatal("the destroy's context ended with the teardown's: nothing was kept for the leak check")
	}
	res, err := LeakCheck(ctx, p, young)
	if err != nil || len(res) != 0 {
		t.Fatalf("leak check after a destroy that used its whole share: %v, %v; want clean", res, err)
	}
	if p.lists != leakQuietListings {
		t.Errorf("listed %d times, want the %d quiet listings a young run needs", p.lists, leakQuietListings)
	}

	// Without a deadline there is nothing to split: the destroy's context
	// ends only with the teardown's.
	bg, bgCancel := context.WithCancel(context.Background())
	dctx, dcancel = ReserveLeakCheck(bg, p, young)
	defer dcancel()
	if _, ok := dctx.Deadline(); ok {
		t.Error("a teardown without a deadline gave its destroy one")
	}
	bgCancel()
	<-dctx.Done()
}
