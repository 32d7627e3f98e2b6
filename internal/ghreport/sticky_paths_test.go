package ghreport

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// requestsOf counts the logged requests with method whose path contains
// path.
func requestsOf(f *fakegh.Server, method, path string) int {
	n := 0
	for _, req := range f.Requests() {
		if req.Method == method && strings.Contains(req.Path, path) {
			n++
		}
	}
	return n
}

// A leg whose row holds while other legs keep changing the comment around
// it, during every quiet wait, cannot tell that no write which drops its
// row is still coming, so it watches again each time; the cap on reads ends
// that with errKeptChanging: a notice saying so, the status posted, the row
// written once and still there, and no further writes of its own (its row
// never went missing).
func TestCommentKeptChangingEndsTheWatch(t *testing.T) {
	f := newFake(t)
	const quiet = 7 * time.Second
	quietWaits := 0
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Quiet = quiet
		c.Attempts = 2
		c.Clock = testClock{sleep: func(ctx context.Context, d time.Duration) error {
			if d != quiet {
				return ctx.Err()
			}
			quietWaits++
			// Another leg rewrites the comment, rows and all, with a
			// fresh write tag, as every write does.
			cs := markerComments(f)
			f.SetCommentBody(cs[0].ID, untagged(cs[0].Body)+newWriteTag())
			return ctx.Err()
		}}
	})
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
	if !out.Degraded || !strings.Contains(out.Notice, "kept changing the comment") {
		t.Errorf("outcome = %+v, want degraded with a notice that other legs kept changing the comment", out)
	}
	if !out.StatusPosted || out.CommentURL != "" {
		t.Errorf("outcome = %+v, want the status posted and no comment URL (the row was not confirmed)", out)
	}
	// Watched again after every read that held the row: the cap is
	// 4·(Attempts+1) reads.
	if want := 4 * (2 + 1); quietWaits < want {
		t.Errorf("%d quiet waits, want at least %d before giving up", quietWaits, want)
	}
	if n := requestsOf(f, http.MethodPost, "/issues/7/comments") + requestsOf(f, http.MethodPatch, "/issues/comments/"); n != 1 {
		t.Errorf("%d comment writes, want the one that put the row in:\n%s", n, requestLog(f))
	}
	row, ok := findRow(commentState(t, f).Rows, "aws")
	if !ok || row.Source != matrix.FromLeg || row.Notes != "notes of aws" {
		t.Errorf("row aws = %+v (found %v), want the leg's own row still in the comment", row, ok)
	}
}

// A write whose rows the comment already holds is not sent: the comment and
// its write tag stay as they are, so the legs watching it do not see it
// change (each change makes them watch again, up to the cap on reads). Here
// the leg must write only to delete a duplicate whose rows the oldest
// comment holds already; the oldest comment is left byte for byte as it
// was, and the leg confirms its row on it.
func TestWriteOfUnchangedRowsIsNotSent(t *testing.T) {
	f := newFake(t)
	at := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return at } // the leg's row gets this stamp
	mod := func(c *Config) {
		c.Clock = testClock{now: clock, sleep: noWait}
		c.JobURL = runURL + "/job/1"
	}
	r, _ := newReporter(t, f, prEvent(sha1), testToken, mod)
	// The leg's row as it will stamp it, from a twin reporter.
	twin, _ := newReporter(t, f, prEvent(sha1), testToken, mod)
	aws := twin.prepare(legRow("aws", matrix.Pass, "notes of aws"))
	gcp := headRow("gcp")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: StatusState(gcp), Context: ContextPrefix + "gcp", Description: Describe(gcp)})
	rows := []matrix.Row{aws, gcp}
	matrix.Sort(rows, nil) // in the order a write puts them
	primaryBody := matrixBody(t, sha1, rows...) + newWriteTag()
	primary := f.AddComment(testRepo, testPR, "github-actions[bot]", primaryBody)
	dup := f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, gcp)+newWriteTag())

	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v\n%s", out, requestLog(f))
	}
	if n := requestsOf(f, http.MethodDelete, fmt.Sprintf("/issues/comments/%d", dup)); n != 1 {
		t.Errorf("duplicate deleted %d times, want once: the leg never wrote, so the scenario did not happen:\n%s", n, requestLog(f))
	}
	if n := requestsOf(f, http.MethodPatch, "/issues/comments/"); n != 0 {
		t.Errorf("%d comment updates, want none: the comment held the rows already:\n%s", n, requestLog(f))
	}
	cs := markerComments(f)
	if len(cs) != 1 || cs[0].ID != primary || cs[0].Body != primaryBody {
		t.Errorf("matrix comments %+v, want only the oldest (%d), byte for byte as it was", cs, primary)
	}
}

// GitHub slower than half the quiet period at every comment listing (here
// each listing moves the leg's clock two thirds of it): the leg never
// writes from such a read, as the write could land after another leg
// trusted its row; it reads again, and after Attempts+1 old reads in a row
// gives up with a notice saying GitHub was too slow. The status is posted.
func TestReadsAlwaysTooOldToWriteFromEndTheUpdate(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	const quiet = 9 * time.Second
	listPath := apiPrefix + "/repos/" + testRepo + "/issues/7/comments"
	f := newFake(t, fakegh.WithDelay(func(req *http.Request) time.Duration {
		if req.Method == http.MethodGet && req.URL.Path == listPath {
			mu.Lock()
			now = now.Add(quiet / 3) // before serving and again after
			mu.Unlock()
		}
		return 0
	}))
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Clock = testClock{now: clock, sleep: noWait}
		c.Quiet = quiet
		c.Attempts = 3
	})
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
	if !out.Degraded || !strings.Contains(out.Notice, "too slowly") || !out.StatusPosted {
		t.Errorf("outcome = %+v, want the status posted and a notice that GitHub answered too slowly", out)
	}
	if n := requestsOf(f, http.MethodPost, listPath) + requestsOf(f, http.MethodPatch, "/issues/comments/"); n != 0 {
		t.Errorf("%d comment writes from old reads, want none:\n%s", n, requestLog(f))
	}
	if n := requestsOf(f, http.MethodGet, listPath); n != 3+1 {
		t.Errorf("%d comment listings, want %d (Attempts+1 old reads in a row)", n, 3+1)
	}
}

// A comment write that gets no answer by its deadline may still land, later than
// the protocol bounds an answered write: here it is held by GitHub, lands
// after the leg saw its row confirmed once, and drops another leg's final
// row, which that leg (azure) wrote meanwhile and trusts. The leg gives up
// on the request, reads again and writes again, and it must keep watching
// until the write could have landed: it sees the late write, writes azure's
// own row back (notes and all, from what it read), and only then trusts the
// comment.
func TestWriteWithoutAnswerIsWaitedOut(t *testing.T) {
	f := newFake(t)
	gcp, azure := headRow("gcp"), headRow("azure")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "success", Context: ContextPrefix + "gcp", Description: Describe(gcp)})
	id := f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, gcp))
	release, held := make(chan struct{}), make(chan struct{})
	var stuck atomic.Bool
	var releaseOnce sync.Once
	let := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(let) // before the fake closes, which waits for the held request
	f.Inject(fakegh.Fault{Method: http.MethodPatch, Path: fmt.Sprintf("/issues/comments/%d", id), During: func() {
		// Azure finishes while the write is held: its status, then its
		// own row.
		f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "success", Context: ContextPrefix + "azure", Description: Describe(azure)})
		f.SetCommentBody(id, matrixBody(t, sha1, gcp, azure)+newWriteTag())
		close(held)
		select {
		case <-release:
		case <-time.After(time.Minute):
			// The leg waits for the answer rather than giving up on it:
			// end the hold so the test fails rather than hangs.
			stuck.Store(true)
		}
	}})
	// landed waits until the held write has been applied.
	landed := func() {
		let()
		for requestsOf(f, http.MethodPatch, "/issues/comments/") < 2 {
			time.Sleep(time.Millisecond)
		}
	}
	var clock sleepClock
	const quiet = 8 * time.Second
	quietWaits, releasedAt := 0, -1
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Quiet = quiet
		// Held until released, the write times out 3·quiet/4 after its
		// read on the leg's clock (6 s), whose timeouts take 1/60 of
		// that in real time (100 ms).
		c.Clock = testClock{now: clock.Now, rush: 60, sleep: func(ctx context.Context, d time.Duration) error {
			// While the write may still land, the quiet wait comes in
			// quarters, with a read after each (sticky.go, pause).
			if d == quiet || d == quiet/4 {
				quietWaits++
			} else if quietWaits > 0 && releasedAt < 0 {
				// The first wait after a quiet one: the late write lands.
				releasedAt = quietWaits
				landed()
			}
			return clock.Sleep(ctx, d)
		}}
	})
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
	select {
	case <-held:
	default:
		t.Fatalf("the write was never held, so the scenario did not happen:\n%s", requestLog(f))
	}
	if stuck.Load() {
		t.Fatal("the leg kept waiting for the write's answer instead of giving up on it at its deadline")
	}
	if releasedAt < 0 {
		// The leg trusted its row before the write could have landed: it
		// lands now, as it may on GitHub.
		landed()
	}
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v\n%s", out, requestLog(f))
	}
	st := commentState(t, f)
	for _, key := range []string{"aws", "azure", "gcp"} {
		row, ok := findRow(st.Rows, key)
		if !ok || row.Source != matrix.FromLeg || row.Notes != "notes of "+key {
			t.Errorf("row %s = %+v (found %v), want the leg's own row: the late write dropped it after the leg stopped watching\n%s",
				key, row, ok, requestLog(f))
		}
	}
}

// A leg that gives up while a write of its own that got no answer may still
// land must not leave the comment to that write: here aws's write is held
// past its deadline, azure meanwhile writes its final row and trusts it,
// aws runs out of attempts (errNotConfirmed), and only then does GitHub
// apply aws's stale write, dropping azure's row. Giving up, aws waits the
// write out, reads again and writes azure's own row back (notes and all,
// from what it read), while still reporting that it gave up.
func TestGiveUpWaitsOutLateWriteAndRepairs(t *testing.T) {
	f := newFake(t)
	gcp, azure := headRow("gcp"), headRow("azure")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "success", Context: ContextPrefix + "gcp", Description: Describe(gcp)})
	id := f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, gcp))
	release, held := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	let := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(let) // before the fake closes, which waits for the held request
	f.Inject(fakegh.Fault{Method: http.MethodPatch, Path: fmt.Sprintf("/issues/comments/%d", id), During: func() {
		f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "success", Context: ContextPrefix + "azure", Description: Describe(azure)})
		f.SetCommentBody(id, matrixBody(t, sha1, gcp, azure)+newWriteTag())
		close(held)
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
	}})
	// landed releases the held write and waits until it has been applied.
	landed := func() {
		let()
		for requestsOf(f, http.MethodPatch, "/issues/comments/") < 1 {
			time.Sleep(time.Millisecond)
		}
	}
	var clock sleepClock
	const quiet = 8 * time.Second
	released := false
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Quiet = quiet
		c.Attempts = 1
		// The write's 6 s deadline takes 100 ms of real time.
		c.Clock = testClock{now: clock.Now, rush: 60, sleep: func(ctx context.Context, d time.Duration) error {
			select {
			case <-held:
				if d > quiet && !released {
					// The leg gave up and waits for its write: it lands now.
					released = true
					landed()
				}
			default:
			}
			return clock.Sleep(ctx, d)
		}}
	})
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
	select {
	case <-held:
	default:
		t.Fatalf("the write was never held, so the scenario did not happen:\n%s", requestLog(f))
	}
	if !released {
		// The leg returned without waiting the write out: it lands now,
		// as it may on GitHub.
		landed()
	}
	if !out.Degraded || out.CommentURL != "" {
		t.Fatalf("Finish = %+v, want the give-up reported (attempts ran out)\n%s", out, requestLog(f))
	}
	st := commentState(t, f)
	row, ok := findRow(st.Rows, "azure")
	if !ok || row.Source != matrix.FromLeg || row.Notes != "notes of azure" {
		t.Errorf("row azure = %+v (found %v), want azure's own row: the giving-up leg's late write dropped it\n%s", row, ok, requestLog(f))
	}
	if _, ok := findRow(st.Rows, "gcp"); !ok {
		t.Errorf("row gcp missing\n%s", requestLog(f))
	}
}
