package providers

import (
	"context"
	"errors"
	"testing"
	"time"
)

// slowLagging is a lagging provider (listings lag behind creates) that
// polls a day apart: any deadline a test sets is nearer than the next
// listing, so LeakCheck must stop after its first one, without waiting.
type slowLagging struct{ lagging }

func (slowLagging) PollInterval() time.Duration { return 24 * time.Hour }

// TestLeakCheckUnconfirmedNearTheDeadline: a young run needs several
// empty listings in a row; when the deadline leaves room for only one,
// the empty answer is not passed off as clean but says it is not
// confirmed (ErrLeakCheckUnconfirmed), whereas something listed is still
// the leak it is, and an old run's one empty listing is still enough.
func TestLeakCheckUnconfirmedNearTheDeadline(t *testing.T) {
	young := Identity{RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "aaaa", CreatedAt: time.Now()}
	old := young
	old.CreatedAt = time.Now().Add(-time.Hour)
	nearDeadline := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		return ctx
	}

	p := slowLagging{lagging{&scripted{}}}
	res, err := LeakCheck(nearDeadline(t), p, young)
	if !errors.Is(err, ErrLeakCheckUnconfirmed) || len(res) != 0 {
		t.Errorf("young run, one empty listing before the deadline: %v, %v; want ErrLeakCheckUnconfirmed", res, err)
	}
	if p.lists != 1 {
		t.Errorf("listed %d times, want 1 (the next listing would come after the deadline)", p.lists)
	}

	// Out of time while waiting between listings (the context ends): the
	// same.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := slowLagging{lagging{&scripted{}}}
	if res, err := LeakCheck(ctx, gone, young); !errors.Is(err, ErrLeakCheckUnconfirmed) || len(res) != 0 {
		t.Errorf("young run, context ended after one empty listing: %v, %v; want ErrLeakCheckUnconfirmed", res, err)
	}

	listed := []Resource{{Kind: "instance", ID: "i-1", Region: "us-east-1", Tags: young.Tags()}}
	leaking := slowLagging{lagging{&scripted{listed: listed}}}
	if res, err := LeakCheck(nearDeadline(t), leaking, young); err != nil || len(res) != 1 || res[0].ID != "i-1" {
		t.Errorf("young run, a resource listed before the deadline: %v, %v; want i-1 as a leak", res, err)
	}

	oldRun := slowLagging{lagging{&scripted{}}}
	if res, err := LeakCheck(nearDeadline(t), oldRun, old); err != nil || len(res) != 0 || oldRun.lists != 1 {
		t.Errorf("run older than the lag window: %v, %v after %d listings; want clean after 1", res, err, oldRun.lists)
	}
}
