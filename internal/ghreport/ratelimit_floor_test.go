package ghreport

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// statusPosts counts the requests that posted (or tried to post) a status.
func statusPosts(f *fakegh.Server) int {
	n := 0
	for _, req := range f.Requests() {
		if req.Method == "POST" && strings.Contains(req.Path, "/statuses/") {
			n++
		}
	}
	return n
}

// A rate limit that says Retry-After: 0, again and again, is not retried at
// once in a tight loop: each wait is at least a second, doubling with every
// rate limit in the call, until the budget (a minute here) cannot cover
// the next one. Nothing really waits: the sleeps are recorded.
func TestRetryAfterZeroIsNotATightLoop(t *testing.T) {
	f := newFake(t)
	f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {"0"}}, Times: 200})
	r, s := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) { c.Budget = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := r.Start(ctx, matrix.Row{Key: "aws"})
	if out.StatusPosted || !out.Degraded || !strings.Contains(out.Notice, "rate limited") {
		t.Errorf("Start = %+v, want the status given up as rate limited beyond the budget", out)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	if !slices.Equal(s.all, want) {
		t.Errorf("waits %v, want %v: a floor of a second, doubling, within the 1m budget", s.all, want)
	}
	if n := statusPosts(f); n != len(want)+1 {
		t.Errorf("%d status requests, want %d", n, len(want)+1)
	}
}

// Secondary rate limits without any header, one after another: GitHub asks
// to wait at least a minute, and to wait longer, growing exponentially,
// while they go on. The waits are a minute, two, four, and stop where the
// budget does.
func TestRepeatedBareSecondaryRateLimitsBackOff(t *testing.T) {
	for _, c := range []struct {
		name   string
		budget time.Duration
		limits int
		posted bool
		want   []time.Duration
	}{
		{"within budget", 10 * time.Minute, 3, true, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}},
		{"beyond budget", 5 * time.Minute, 3, false, []time.Duration{time.Minute, 2 * time.Minute}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusForbidden, Secondary: true, Times: c.limits})
			r, s := newReporter(t, f, prEvent(sha1), testToken, func(cfg *Config) { cfg.FinalBudget = c.budget })
			out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
			if out.StatusPosted != c.posted || out.Off {
				t.Fatalf("Finish = %+v, want status posted %v and reporting still on", out, c.posted)
			}
			if !c.posted && !strings.Contains(out.Notice, "rate limited") {
				t.Errorf("notice %q, want it to say rate limited", out.Notice)
			}
			var long []time.Duration
			for _, d := range s.all {
				if d >= time.Minute {
					long = append(long, d)
				}
			}
			if !slices.Equal(long, c.want) {
				t.Errorf("rate-limit waits %v (all waits %v), want %v", long, s.all, c.want)
			}
		})
	}
}
