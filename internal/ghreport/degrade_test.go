package ghreport

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

func TestForkPRReportsSummaryOnly(t *testing.T) {
	f := newFake(t)
	path := filepath.Join(t.TempDir(), "event.json")
	payload := `{"pull_request":{"number":7,"head":{"sha":"` + sha1 + `","repo":{"full_name":"mallory/widgets"}},"base":{"repo":{"full_name":"acme/widgets"}}}}`
	if err := os.WriteFile(path, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	ev, err := LoadEvent(path, envOf(map[string]string{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REPOSITORY": testRepo}))
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Fork() {
		t.Fatalf("event %+v not seen as a fork", ev)
	}
	r, _ := newReporter(t, f, ev, testToken, nil)
	for _, out := range []Outcome{r.Start(context.Background(), matrix.Row{Key: "aws"}), r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))} {
		if !out.Degraded || out.StatusPosted || !out.Off || !strings.Contains(out.Notice, "fork mallory/widgets") {
			t.Errorf("fork outcome = %+v, want degraded with a notice naming the fork", out)
		}
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests for a fork PR, want none", n)
	}
}

func TestPullRequestTargetFromForkMayWrite(t *testing.T) {
	f := newFake(t)
	ev := prEvent(sha1)
	ev.Name, ev.HeadRepo = "pull_request_target", "mallory/widgets"
	r, _ := newReporter(t, f, ev, testToken, nil)
	if out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "")); out.Degraded {
		t.Errorf("pull_request_target runs with the base repository's token; outcome %+v", out)
	}
}

func TestReadOnlyTokenDegrades(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), roToken, nil)
	ctx := context.Background()
	out := r.Start(ctx, matrix.Row{Key: "aws"})
	if !out.Degraded || out.StatusPosted || !out.Off || !strings.Contains(out.Notice, "Resource not accessible by integration") {
		t.Fatalf("read-only Start = %+v, want degraded and off, naming GitHub's refusal", out)
	}
	if strings.Contains(out.Notice, roToken) {
		t.Fatal("the notice contains the token")
	}
	seen := len(f.Requests())
	out = r.Finish(ctx, legRow("aws", matrix.Pass, ""))
	if !out.Degraded || out.Notice == "" {
		t.Errorf("read-only Finish = %+v, want degraded", out)
	}
	if n := len(f.Requests()); n != seen {
		t.Errorf("Finish sent %d more requests after the token was refused, want 0", n-seen)
	}
}

// A token that may post statuses but not comment (statuses: write without
// pull-requests: write, or a locked PR): Start's comment write is refused,
// and still Finish settles the status, so the leg is not left pending. The
// comment is left alone and every call says why in the same words.
func TestReadOnlyOnCommentOnly(t *testing.T) {
	for _, c := range []struct {
		name     string
		existing bool // a matrix comment is already there: the writes are PATCHes
	}{{"no comment yet", false}, {"existing comment", true}} {
		t.Run(c.name, func(t *testing.T) {
			for _, verdict := range []matrix.Status{matrix.Pass, matrix.Fail} {
				f := newFake(t)
				var before string
				if c.existing {
					other := legRow("gcp", matrix.Pass, "another leg")
					other.HeadSHA = sha1
					body, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: []matrix.Row{other}})
					if err != nil {
						t.Fatal(err)
					}
					f.AddComment(testRepo, testPR, actionsBot, body)
					before = body
				}
				const refused = "Resource not accessible by integration"
				f.Inject(fakegh.Fault{Method: "POST", Path: "/comments", Status: 403, Message: refused, Times: 100})
				f.Inject(fakegh.Fault{Method: "PATCH", Path: "/issues/comments/", Status: 403, Message: refused, Times: 100})
				r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
				ctx := context.Background()
				start := r.Start(ctx, matrix.Row{Key: "aws"})
				if !start.Degraded || !start.StatusPosted || start.Off || start.CommentURL != "" ||
					!strings.Contains(start.Notice, refused) || !strings.Contains(start.Notice, "pull-requests: write") {
					t.Fatalf("Start = %+v, want the status posted, the comment degraded naming the refusal, not off", start)
				}
				finish := r.Finish(ctx, legRow("aws", verdict, ""))
				if !finish.StatusPosted || finish.Off || finish.CommentURL != "" || finish.Notice != start.Notice {
					t.Errorf("Finish = %+v, want the status posted and Start's notice %q again", finish, start.Notice)
				}
				want := map[matrix.Status]string{matrix.Pass: "success", matrix.Fail: "failure"}[verdict]
				if st, ok := latestStatus(f, sha1, ContextPrefix+"aws"); !ok || st.State != want {
					t.Errorf("final status %+v (found %v), want %s", st, ok, want)
				}
				cs := markerComments(f)
				switch {
				case !c.existing && len(cs) != 0:
					t.Errorf("a comment appeared although comments are refused: %+v", cs)
				case c.existing && (len(cs) != 1 || cs[0].Body != before):
					t.Errorf("the existing comment changed: %+v", cs)
				}
				// Finish did not try the comment again after Start was refused.
				writes := 0
				for _, req := range f.Requests() {
					if (req.Method == "POST" && strings.HasSuffix(req.Path, "/comments")) || req.Method == "PATCH" {
						writes++
					}
				}
				if writes != 1 {
					t.Errorf("%d comment writes, want Start's one", writes)
				}
			}
		})
	}
}

// A token that may not post statuses turns the Reporter off altogether:
// there is no leg to report without its status.
func TestStatusRefusedGoesOff(t *testing.T) {
	f := newFake(t)
	f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: 403, Message: "Resource not accessible by integration"})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	ctx := context.Background()
	out := r.Start(ctx, matrix.Row{Key: "aws"})
	if !out.Degraded || out.StatusPosted || !out.Off || !strings.Contains(out.Notice, "statuses: write") {
		t.Fatalf("Start = %+v, want off, naming the permission", out)
	}
	seen := len(f.Requests())
	if out := r.Finish(ctx, legRow("aws", matrix.Pass, "")); !out.Off || out.StatusPosted {
		t.Errorf("Finish = %+v, want off", out)
	}
	if n := len(f.Requests()); n != seen {
		t.Errorf("Finish sent %d requests after the status was refused, want 0", n-seen)
	}
}

// A refused token (401) turns the Reporter off: the first call says why,
// and later calls send nothing, as asking again with the same token cannot
// succeed.
func TestBadTokenDegrades(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), "ghs_wrong", nil)
	ctx := context.Background()
	out := r.Start(ctx, matrix.Row{Key: "aws"})
	if !out.Degraded || !out.Off || out.StatusPosted || !strings.Contains(out.Notice, "401") || strings.Contains(out.Notice, "ghs_wrong") {
		t.Fatalf("Start = %+v, want degraded and off, naming the 401 and not the token", out)
	}
	seen := len(f.Requests())
	if seen != 1 {
		t.Errorf("Start sent %d requests with a refused token, want the one status post", seen)
	}
	out = r.Finish(ctx, legRow("aws", matrix.Pass, ""))
	if !out.Degraded || !out.Off || out.StatusPosted || strings.Contains(out.Notice, "ghs_wrong") {
		t.Errorf("Finish = %+v, want degraded and off", out)
	}
	if n := len(f.Requests()); n != seen {
		t.Errorf("Finish sent %d requests after the token was refused, want 0", n-seen)
	}
}

func TestNoTokenDegradesWithoutRequests(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), "", nil)
	if out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "")); !out.Degraded || out.Notice == "" {
		t.Errorf("outcome = %+v", out)
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests without a token", n)
	}
}

func TestRateLimitsAreWaitedOut(t *testing.T) {
	f := newFake(t)
	f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: 403, RateLimitReset: 30 * time.Second})
	f.Inject(fakegh.Fault{Method: "POST", Path: "/comments", Status: 429, RetryAfter: 20 * time.Second})
	f.Inject(fakegh.Fault{Method: "GET", Path: "/comments", Status: 403, Secondary: true, RetryAfter: 5 * time.Second})
	f.Inject(fakegh.Fault{Method: "GET", Path: "/status", Status: 502, Times: 2})
	r, s := newReporter(t, f, prEvent(sha1), testToken, nil)
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
	if out.Degraded || !out.StatusPosted || out.CommentURL == "" {
		t.Fatalf("outcome = %+v, want everything reported after waiting", out)
	}
	// The reset is whole unix seconds: the wait for it lands within a
	// second of 30s, plus the second of slack.
	for _, want := range []struct{ lo, hi time.Duration }{{29 * time.Second, 32 * time.Second}, {20 * time.Second, 20 * time.Second}, {5 * time.Second, 5 * time.Second}} {
		found := false
		for _, d := range s.all {
			found = found || (d >= want.lo && d <= want.hi)
		}
		if !found {
			t.Errorf("no wait in [%s, %s] among %v", want.lo, want.hi, s.all)
		}
	}
	if _, ok := findRow(commentState(t, f).Rows, "aws"); !ok {
		t.Error("row missing after rate limits")
	}
}

// A secondary rate limit may come as a bare 403 with neither Retry-After
// nor x-ratelimit-* headers, only GitHub's message saying so. It is a rate
// limit, waited out for GitHub's minute, not a read-only token: reporting
// must not go off for it.
func TestSecondaryRateLimitWithoutHeadersIsWaited(t *testing.T) {
	for _, path := range []string{"/statuses/", "/comments"} {
		t.Run(path, func(t *testing.T) {
			f := newFake(t)
			f.Inject(fakegh.Fault{Method: "POST", Path: path, Status: 403, Message: "You have exceeded a secondary rate limit"})
			r, s := newReporter(t, f, prEvent(sha1), testToken, nil)
			out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
			if out.Off || out.Degraded || !out.StatusPosted || out.CommentURL == "" {
				t.Fatalf("outcome = %+v, want everything reported after waiting, not off", out)
			}
			if !slices.Contains(s.all, SecondaryRateLimitWait) {
				t.Errorf("waits %v, want GitHub's %s for a secondary rate limit without headers", s.all, SecondaryRateLimitWait)
			}
			if st, ok := latestStatus(f, sha1, ContextPrefix+"aws"); !ok || st.State != "success" {
				t.Errorf("status %+v (found %v), want success", st, ok)
			}
			if _, ok := findRow(commentState(t, f).Rows, "aws"); !ok {
				t.Error("row missing from the comment after the rate limit")
			}
		})
	}
}

func TestRateLimitBeyondBudgetDegrades(t *testing.T) {
	f := newFake(t)
	f.Inject(fakegh.Fault{Path: "/", Status: 403, RateLimitReset: time.Hour, Times: 100})
	r, s := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) { c.Budget = time.Minute })
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
	if !out.Degraded || !strings.Contains(out.Notice, "rate limited") {
		t.Errorf("outcome = %+v, want degraded by the rate limit", out)
	}
	if s.total() > time.Minute {
		t.Errorf("waited %s, beyond the 1m budget", s.total())
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	f := newFake(t)
	f.Inject(fakegh.Fault{Method: "PATCH", Status: 500, Times: 2})
	f.Inject(fakegh.Fault{Method: "POST", Path: "/comments", Status: 503})
	// The 5xx writes may land late, which the leg waits out on this clock.
	var clock sleepClock
	r, _ := newReporter(t, f, prEvent(sha1), testToken, clock.use)
	ctx := context.Background()
	if out := r.Start(ctx, matrix.Row{Key: "aws"}); out.Degraded {
		t.Fatalf("Start: %+v", out)
	}
	if out := r.Finish(ctx, legRow("aws", matrix.Pass, "")); out.Degraded {
		t.Fatalf("Finish: %+v", out)
	}
	row, _ := findRow(commentState(t, f).Rows, "aws")
	if row.Has(matrix.Pending) {
		t.Errorf("row still pending after retried 5xx: %+v", row)
	}
}

func TestPersistentServerErrorDegrades(t *testing.T) {
	f := newFake(t)
	f.Inject(fakegh.Fault{Path: "/statuses/", Status: 500, Times: 50})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "")); !out.Degraded || out.StatusPosted {
		t.Errorf("outcome = %+v, want degraded", out)
	}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
