package ghreport

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// When the PR's current head cannot be learned, the leg fails closed: its
// status is posted, the comment is not touched (it might be a newer push's),
// and the notice says so.
func TestPRHeadUnknownLeavesCommentAlone(t *testing.T) {
	for _, fault := range []fakegh.Fault{
		{Method: "GET", Path: "/pulls/", Status: http.StatusNotFound, Times: 20},
		{Method: "GET", Path: "/pulls/", Status: http.StatusBadGateway, Times: 20},
	} {
		t.Run(http.StatusText(fault.Status), func(t *testing.T) {
			f := newFake(t)
			newer := legRow("gcp", matrix.Pass, "newer push")
			newer.HeadSHA = sha2
			body, err := CommentBody(matrix.State{HeadSHA: sha2, Rows: []matrix.Row{newer}})
			if err != nil {
				t.Fatal(err)
			}
			f.AddComment(testRepo, testPR, "github-actions[bot]", body)
			f.Inject(fault)
			r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
			out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "mine"))
			if !out.StatusPosted || !out.Degraded || out.CommentURL != "" || !strings.Contains(out.Notice, "current head is unknown") {
				t.Errorf("outcome = %+v, want the status posted, the comment skipped and a notice", out)
			}
			if _, ok := latestStatus(f, sha1, "mvm-verify/aws"); !ok {
				t.Error("no status on the leg's commit")
			}
			if cs := markerComments(f); len(cs) != 1 || cs[0].Body != body {
				t.Errorf("the comment changed although the PR's head was unknown: %+v", cs)
			}
		})
	}
}

// The PR's head moves between the leg's first look and its write, and a leg
// of the newer push has already written: the older leg must not put its
// comment back on its own commit.
func TestOlderRowNeverReplacesNewerStoredHead(t *testing.T) {
	var f *fakegh.Server
	var pulls atomic.Int32
	f = newFake(t, fakegh.WithDelay(func(r *http.Request) time.Duration {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/pulls/") && pulls.Add(1) == 2 {
			f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
		}
		return 0
	}))
	newer := legRow("gcp", matrix.Pass, "newer push")
	newer.HeadSHA = sha2
	body, err := CommentBody(matrix.State{HeadSHA: sha2, Rows: []matrix.Row{newer}})
	if err != nil {
		t.Fatal(err)
	}
	f.AddComment(testRepo, testPR, "github-actions[bot]", body)
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	out := r.Finish(context.Background(), legRow("aws", matrix.Fail, "older push"))
	if out.Degraded || !out.StatusPosted || !strings.Contains(out.Notice, "2222222") {
		t.Errorf("outcome = %+v, want the status posted and a notice naming the newer head", out)
	}
	if cs := markerComments(f); len(cs) != 1 || cs[0].Body != body {
		t.Errorf("an older push's leg rewrote the newer push's comment:\n%s", cs[0].Body)
	}
	if pulls.Load() < 2 {
		t.Errorf("the PR's head was read %d times; the guard before the write did not run", pulls.Load())
	}
}

// A long rate limit during Start uses up Start's wait budget only: Finish,
// whose row matters most, still waits out its own.
func TestEachCallHasItsOwnWaitBudget(t *testing.T) {
	f := newFake(t)
	f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusTooManyRequests, RetryAfter: 100 * time.Second, Times: 2})
	r, s := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) { c.Budget = 2 * time.Minute })
	ctx := context.Background()
	if out := r.Start(ctx, matrix.Row{Key: "aws"}); !out.Degraded || !strings.Contains(out.Notice, "rate limited") {
		t.Fatalf("Start = %+v, want degraded by a rate limit beyond its budget", out)
	}
	f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusTooManyRequests, RetryAfter: 100 * time.Second})
	out := r.Finish(ctx, legRow("aws", matrix.Pass, "done"))
	if out.Degraded || !out.StatusPosted || out.CommentURL == "" {
		t.Fatalf("Finish = %+v, want it reported after waiting within its own budget", out)
	}
	waits := 0
	for _, d := range s.all {
		if d == 100*time.Second {
			waits++
		}
	}
	if waits != 2 {
		t.Errorf("waited 100s %d times (%v), want once at Start and once at Finish", waits, s.all)
	}
}

// The status and the row link this job's page, found among the run
// attempt's jobs by the runner's name, else by the job's name.
func TestStatusLinksTheJob(t *testing.T) {
	for _, c := range []struct{ name, runner, job string }{
		{"by runner", "runner-2", "verify"},
		{"by job name", "", "report"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			f.AddJob(testRepo, 42, 1, fakegh.Job{ID: 501, Name: "verify (gcp)", RunnerName: "runner-1", Status: "in_progress"})
			f.AddJob(testRepo, 42, 1, fakegh.Job{ID: 502, Name: "verify (aws)", RunnerName: "runner-2", Status: "in_progress"})
			f.AddJob(testRepo, 42, 1, fakegh.Job{ID: 503, Name: "report", Status: "queued"})
			want := fakegh.JobURL(testRepo, 42, 502)
			if c.runner == "" {
				want = fakegh.JobURL(testRepo, 42, 503)
			}
			ev := prEvent(sha1)
			ev.RunID, ev.RunAttempt, ev.RunnerName, ev.Job = 42, 1, c.runner, c.job
			r, _ := newReporter(t, f, ev, testToken, nil)
			if out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "")); out.Degraded {
				t.Fatalf("outcome %+v", out)
			}
			st, _ := latestStatus(f, sha1, "mvm-verify/aws")
			row, _ := findRow(commentState(t, f).Rows, "aws")
			if st.TargetURL != want || row.JobURL != want {
				t.Errorf("status links %q, row links %q; want the job %q", st.TargetURL, row.JobURL, want)
			}
		})
	}
}

// Without actions: read (a 403 on the jobs API) the status links the run,
// and nothing degrades.
func TestStatusLinksTheRunWithoutActionsRead(t *testing.T) {
	f := newFake(t)
	const token = "ghs_no_actions_read_0123456789"
	f.AddToken(token, fakegh.Token{NoActions: true})
	f.AddJob(testRepo, 42, 1, fakegh.Job{ID: 502, Name: "verify (aws)", RunnerName: "runner-2", Status: "in_progress"})
	ev := prEvent(sha1)
	ev.RunID, ev.RunAttempt, ev.RunnerName = 42, 1, "runner-2"
	r, _ := newReporter(t, f, ev, token, nil)
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
	if out.Degraded || out.Notice != "" {
		t.Fatalf("outcome %+v, want a plain success", out)
	}
	st, _ := latestStatus(f, sha1, "mvm-verify/aws")
	if st.TargetURL != runURL {
		t.Errorf("status links %q, want the run %q", st.TargetURL, runURL)
	}
	refused := false
	for _, req := range f.Requests() {
		refused = refused || (strings.Contains(req.Path, "/jobs") && req.Status == http.StatusForbidden)
	}
	if !refused {
		t.Error("the jobs API was not asked (and refused)")
	}
}

// With the job's check run id (input check-run-id, job.check_run_id) the
// status and the row link the job's page built from it, and the jobs API
// (which needs actions: read) is not asked at all, though the run has a
// job that a lookup would pick instead.
func TestStatusLinksTheJobFromCheckRunID(t *testing.T) {
	f := newFake(t)
	f.AddJob(testRepo, 42, 1, fakegh.Job{ID: 502, Name: "verify (aws)", RunnerName: "runner-2", Status: "in_progress"})
	ev := prEvent(sha1)
	ev.RunID, ev.RunAttempt, ev.RunnerName = 42, 1, "runner-2"
	ev.JobsURL = "https://github.com/acme/widgets/actions/runs/42/job"
	r, _ := newReporter(t, f, ev, testToken, func(c *Config) { c.CheckRunID = 71234567890 })
	if out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "")); out.Degraded || out.Notice != "" {
		t.Fatalf("outcome %+v, want a plain success", out)
	}
	const want = "https://github.com/acme/widgets/actions/runs/42/job/71234567890"
	st, _ := latestStatus(f, sha1, "mvm-verify/aws")
	row, _ := findRow(commentState(t, f).Rows, "aws")
	if st.TargetURL != want || row.JobURL != want {
		t.Errorf("status links %q, row links %q; want the job %q", st.TargetURL, row.JobURL, want)
	}
	for _, req := range f.Requests() {
		if strings.Contains(req.Path, "/jobs") {
			t.Errorf("the jobs API was asked: %s %s", req.Method, req.Path)
		}
	}
}
