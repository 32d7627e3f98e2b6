package ghreport

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// stepClock is a clock that stands still but for the waits asked of it,
// which move it forward at once: a wait computed from its time is exact.
type stepClock struct {
	mu  sync.Mutex
	t   time.Time
	all []time.Duration // the waits asked, in order
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(max(d, 0))
	c.all = append(c.all, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *stepClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.all...)
}

// use makes cfg's reporter tell time and wait on c.
func (c *stepClock) use(cfg *Config) { cfg.Clock = c }

// WithTimeout measures d in real time: the test's clock moves only when
// waited on, so a timeout on it would never end.
func (c *stepClock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// TestRateLimitResetWaitHasASecondOfSlack: a primary rate limit's
// x-ratelimit-reset is whole unix seconds, rounded down, so the limit may
// lift up to a second after it. The wait is to the reset plus a second:
// on a clock that moves only when waited on, exactly 31 s for a reset 30 s
// ahead. A wait of just 30 s would ask again, likely inside the same
// limit, and spend the budget on a second wait.
func TestRateLimitResetWaitHasASecondOfSlack(t *testing.T) {
	f := newFake(t)
	clock := &stepClock{t: time.Now().Truncate(time.Second)}
	reset := clock.Now().Add(30 * time.Second).Unix()
	f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusForbidden, Message: "API rate limit exceeded for installation.",
		Header: http.Header{"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset, 10)}}})
	// A push: the status only, so the rate limit's is the only wait.
	ev := Event{Name: "push", Repo: testRepo, HeadSHA: sha1, RunURL: runURL}
	r, _ := newReporter(t, f, ev, testToken, clock.use)
	out := r.Start(context.Background(), matrix.Row{Key: "aws"})
	if !out.StatusPosted || out.Degraded {
		t.Fatalf("Start = %+v, want the status posted after the rate limit", out)
	}
	want := 30*time.Second + time.Second
	if w := clock.waits(); len(w) != 1 || w[0] != want {
		t.Errorf("waits %v, want one of %s: to the reset (30 s on the clock) and a second of slack", w, want)
	}
	if n := statusPosts(f); n != 2 {
		t.Errorf("%d status requests, want 2: the rate-limited one and one after the wait", n)
	}
}
