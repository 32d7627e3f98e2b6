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

// The calls that end a leg wait out rate limits within FinalBudget, not the
// shorter Budget of Start and Update: a leg's pending status must reach its
// verdict even when GitHub asks for a minute's pause at that moment, as it
// does for a secondary rate limit without headers. With the CLI's numbers
// (Budget 30 s, the final calls' 80 s) a 45 s Retry-After or the bare
// 403's minute fails Start but not Finish, Abandon or EndKept. Nothing
// really waits: the sleep is recorded.
func TestFinalCallsWaitOutRateLimitsBeyondBudget(t *testing.T) {
	limits := []struct {
		name  string
		fault fakegh.Fault
		wait  time.Duration
	}{
		{"429 Retry-After 45", fakegh.Fault{Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second}, 45 * time.Second},
		{"secondary 403 without headers", fakegh.Fault{Status: http.StatusForbidden, Secondary: true}, SecondaryRateLimitWait},
	}
	ends := []struct {
		name  string
		end   func(context.Context, *Reporter) Outcome
		state string
	}{
		{"Finish pass", func(ctx context.Context, r *Reporter) Outcome {
			return r.Finish(ctx, legRow("aws", matrix.Pass, "done"))
		}, "success"},
		{"Finish fail", func(ctx context.Context, r *Reporter) Outcome {
			return r.Finish(ctx, legRow("aws", matrix.Fail, "done"))
		}, "failure"},
		{"Abandon", func(ctx context.Context, r *Reporter) Outcome {
			return r.Abandon(ctx, matrix.Row{Key: "aws"}, "killed")
		}, "error"},
		{"EndKept", func(ctx context.Context, r *Reporter) Outcome {
			return r.EndKept(ctx, matrix.Row{Key: "aws"}, "host gone")
		}, "error"},
	}
	for _, l := range limits {
		for _, e := range ends {
			t.Run(l.name+"/"+e.name, func(t *testing.T) {
				f := newFake(t)
				r, s := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
					c.Budget, c.FinalBudget = 30*time.Second, 80*time.Second
				})
				// The caller's deadline, as the CLI gives a final report
				// (real time, but nothing waits for it).
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				fault := l.fault
				fault.Method, fault.Path = "POST", "/statuses/"
				f.Inject(fault)
				if out := r.Start(ctx, matrix.Row{Key: "aws"}); out.StatusPosted || !strings.Contains(out.Notice, "rate limited") {
					t.Fatalf("Start = %+v, want its status refused by the %s wait, beyond its 30s budget", out, l.wait)
				}
				f.Inject(fault)
				out := e.end(ctx, r)
				if !out.StatusPosted || out.Degraded || out.CommentURL == "" {
					t.Fatalf("%s = %+v, want the status and the row posted after waiting out %s", e.name, out, l.wait)
				}
				if st, ok := latestStatus(f, sha1, ContextPrefix+"aws"); !ok || st.State != e.state {
					t.Errorf("status %+v (found %v), want %s", st, ok, e.state)
				}
				if row, ok := findRow(commentState(t, f).Rows, "aws"); !ok || row.Has(matrix.Pending) {
					t.Errorf("row %+v (found %v), want the final row, nothing ⏳", row, ok)
				}
				if !slices.Contains(s.all, l.wait) {
					t.Errorf("waits %v, want %s among them", s.all, l.wait)
				}
			})
		}
	}
}

// FinalBudget defaults to Budget, so a Reporter configured with Budget
// alone behaves as before: Finish waits out a 20 s Retry-After, within the
// 30 s Budget (with no default it would have nothing to wait with), and
// refuses a minute's wait, beyond it.
func TestFinalBudgetDefaultsToBudget(t *testing.T) {
	f := newFake(t)
	r, s := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) { c.Budget = 30 * time.Second })
	f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusTooManyRequests, RetryAfter: 20 * time.Second})
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
	if !out.StatusPosted {
		t.Errorf("Finish = %+v, want the status posted after waiting out 20s within the 30s budget", out)
	}
	if !slices.Contains(s.all, 20*time.Second) {
		t.Errorf("waits %v, want the 20s Retry-After waited out", s.all)
	}
	if st, ok := latestStatus(f, sha1, ContextPrefix+"aws"); !ok || st.State != "success" {
		t.Errorf("status %+v (found %v), want success", st, ok)
	}

	waited := len(s.all)
	f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusForbidden, Secondary: true})
	out = r.Finish(context.Background(), legRow("aws", matrix.Fail, ""))
	if out.StatusPosted || !strings.Contains(out.Notice, "rate limited") {
		t.Errorf("Finish = %+v, want the minute's wait refused within a 30s budget", out)
	}
	if len(s.all) != waited {
		t.Errorf("waits %v, want no wait beyond the budget", s.all[waited:])
	}
}

// Start, StartAsync and Update keep the ordinary Budget whatever
// FinalBudget is: a report mid-way must not hold the leg's cycle back for
// a rate limit's minute, which only the final report is worth. With the
// CLI's numbers a 45 s Retry-After is beyond their 30 s, so each gives its
// status up, saying it was rate limited, and waits for nothing.
func TestUpdateAndStartAsyncKeepBudget(t *testing.T) {
	calls := []struct {
		name string
		call func(context.Context, *Reporter) Outcome
	}{
		{"Start", func(ctx context.Context, r *Reporter) Outcome { return r.Start(ctx, matrix.Row{Key: "aws"}) }},
		{"StartAsync", func(ctx context.Context, r *Reporter) Outcome { return <-r.StartAsync(ctx, matrix.Row{Key: "aws"}) }},
		{"Update", func(ctx context.Context, r *Reporter) Outcome {
			return r.Update(ctx, legRow("aws", matrix.Pending, "mid-way"))
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			r, s := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
				c.Budget, c.FinalBudget = 30*time.Second, 80*time.Second
			})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second})
			if out := c.call(ctx, r); out.StatusPosted || !strings.Contains(out.Notice, "rate limited") {
				t.Errorf("%s = %+v, want its status refused by the 45s wait, beyond its 30s budget", c.name, out)
			}
			if slices.Contains(s.all, 45*time.Second) {
				t.Errorf("waits %v, want the 45s wait refused, not taken", s.all)
			}
		})
	}
}

// Abandon and EndKept read the comment for the leg's settled cells before
// the status; a read that hangs (a slow API) is cut at EndReadTimeout, and
// the status is still posted within the caller's time. Without the cut the
// read would hold until the caller's deadline and the status never post.
func TestEndStatusPostedWhenCommentReadHangs(t *testing.T) {
	for _, e := range []struct {
		name string
		end  func(context.Context, *Reporter) Outcome
	}{
		{"Abandon", func(ctx context.Context, r *Reporter) Outcome {
			return r.Abandon(ctx, matrix.Row{Key: "aws"}, "killed")
		}},
		{"EndKept", func(ctx context.Context, r *Reporter) Outcome {
			return r.EndKept(ctx, matrix.Row{Key: "aws"}, "host gone")
		}},
	} {
		t.Run(e.name, func(t *testing.T) {
			f := newFake(t)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) }) // before the fake closes
			r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) { c.EndReadTimeout = 50 * time.Millisecond })
			// The first comment list hangs until the test ends.
			f.Inject(fakegh.Fault{Method: "GET", Path: "/comments", Status: http.StatusBadGateway, During: func() { <-release }})
			// The caller's time: far beyond the cut, so only a read that
			// is never cut uses it up.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out := e.end(ctx, r)
			if !out.StatusPosted {
				t.Fatalf("%s = %+v, want the status posted after the hung read was cut", e.name, out)
			}
			if st, ok := latestStatus(f, sha1, ContextPrefix+"aws"); !ok || st.State != "error" {
				t.Errorf("status %+v (found %v), want error", st, ok)
			}
		})
	}
}
