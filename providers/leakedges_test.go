package providers

import (
	"context"
	"sync"
	"testing"
	"time"
)

// sequenced is a lagging provider whose listings follow a script: the
// n-th List returns script[n] (the last entry repeats).
type sequenced struct {
	lagging
	mu     sync.Mutex
	script [][]Resource
	n      int
}

func (s *sequenced) List(context.Context, Filter) ([]Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.n, len(s.script)-1)
	s.n++
	return s.script[i], nil
}

// TestLeakCheckEdges: the corners of LeakCheck's loop that decide whether
// a resource still billing is reported.
func TestLeakCheckEdges(t *testing.T) {
	young := Identity{RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "aaaa", CreatedAt: time.Now()}
	r := Resource{Kind: "instance", ID: "i-1", Region: "us-east-1", Tags: young.Tags()}

	t.Run("a listing showing something restarts the quiet count", func(t *testing.T) {
		// empty, empty, i-1, empty, empty, i-1: the resource shows up late
		// and flickers; two quiet listings around it are not three in a row.
		p := &sequenced{lagging: lagging{&scripted{}}, script: [][]Resource{nil, nil, {r}, nil, nil, {r}}}
		res, err := LeakCheck(context.Background(), p, young)
		if err != nil || len(res) != 1 || res[0].ID != "i-1" {
			t.Errorf("got %v, %v after %d listings; want i-1 reported", res, err, p.n)
		}
	})

	t.Run("a run of unknown age needs the quiet listings of a young one", func(t *testing.T) {
		unknown := young
		unknown.CreatedAt = time.Time{}
		p := lagging{&scripted{}}
		if res, err := LeakCheck(context.Background(), p, unknown); err != nil || len(res) != 0 {
			t.Fatalf("clean run of unknown age: %v, %v", res, err)
		}
		if p.lists != leakQuietListings {
			t.Errorf("listed %d times, want %d: with no creation time the run may be young", p.lists, leakQuietListings)
		}
	})

	t.Run("out of time between listings, what is listed is still reported", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		// Polls a nanosecond apart, so the deadline check does not stop it
		// first: the wait itself fails on the ended context.
		p := lagging{&scripted{listed: []Resource{r}}}
		res, err := LeakCheck(ctx, p, young)
		if err != nil || len(res) != 1 || res[0].ID != "i-1" {
			t.Errorf("got %v, %v; want i-1 reported although the wait was cut short", res, err)
		}
		if p.lists != 1 {
			t.Errorf("listed %d times, want 1 (the context had ended)", p.lists)
		}
	})
}
