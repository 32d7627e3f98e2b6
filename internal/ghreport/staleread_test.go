package ghreport

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// A read that took longer than half the quiet period (here: its comment
// listing answered 502 while the clock moved a whole quiet period, or 6/10
// of one) is not written from: the leg reads the comment again
// first, so its write lands within the quiet period of the state its read
// was served from, even when that was a replica's older state (sticky.go).
func TestOldReadIsReadAgainBeforeWriting(t *testing.T) {
	for _, part := range []time.Duration{10, 6} {
		t.Run(fmt.Sprintf("%d tenths", part), func(t *testing.T) { oldReadIsReadAgain(t, part) })
	}
}

func oldReadIsReadAgain(t *testing.T, tenths time.Duration) {
	f := newFake(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	const quiet = 8 * time.Second
	f.Inject(fakegh.Fault{Method: "GET", Path: "/issues/7/comments", Status: 502, During: func() {
		mu.Lock()
		now = now.Add(quiet * tenths / 10)
		mu.Unlock()
	}})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Clock = testClock{now: clock, sleep: noWait}
		c.Quiet = quiet
	})
	out := r.Start(context.Background(), matrix.Row{Key: "aws"})
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Start: %+v", out)
	}
	listPath := apiPrefix + "/repos/" + testRepo + "/issues/7/comments"
	lists := -1 // the first listing failed
	for _, req := range f.Requests() {
		if req.Method == "POST" && req.Path == listPath {
			break
		}
		if req.Method == "GET" && req.Path == listPath {
			lists++
		}
	}
	if lists < 2 {
		var log []string
		for _, req := range f.Requests() {
			log = append(log, req.Method+" "+req.Path)
		}
		t.Errorf("the comment was written from a read a quiet period old (%d listing before the write):\n%s",
			lists, strings.Join(log, "\n"))
	}
	if _, ok := findRow(commentState(t, f).Rows, "aws"); !ok {
		t.Error("the row is not in the comment")
	}
}

// The "read again once" allowance belongs to one old read, not to the leg:
// after an old read was read again and the fresh read held the row, a later
// old read (one that shows the row dropped) is read again too before the leg
// writes, rather than written from.
func TestEveryOldReadIsReadAgainBeforeWriting(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	const quiet = 8 * time.Second
	listPath := apiPrefix + "/repos/" + testRepo + "/issues/7/comments"
	// slow moves the clock a quiet period while the next listing is
	// answered, after it was served; then it runs then (if set).
	var slow bool
	var then func()
	seen := map[*http.Request]bool{}
	f := newFake(t, fakegh.WithDelay(func(req *http.Request) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if req.Method != "GET" || req.URL.Path != listPath || !slow {
			return 0
		}
		if !seen[req] { // called before and after serving: act after
			seen[req] = true
			return 0
		}
		slow, now = false, now.Add(quiet)
		if then != nil {
			then()
			then = nil
		}
		return 0
	}))

	gcp := legRow("gcp", matrix.Pass, "")
	gcp.HeadSHA, gcp.UpdatedAt = sha1, now
	aws := legRow("aws", matrix.Pending, "")
	aws.HeadSHA, aws.UpdatedAt = sha1, now.Add(time.Hour) // not behind the leg's own row
	without, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: []matrix.Row{gcp}})
	if err != nil {
		t.Fatal(err)
	}
	with, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: []matrix.Row{gcp, aws}})
	if err != nil {
		t.Fatal(err)
	}
	id := f.AddComment(testRepo, testPR, "github-actions[bot]", without)
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "success", Context: ContextPrefix + "gcp"})

	// 1: the first read is old and lacks the row (read again); another
	// writer puts the row in meanwhile, so the fresh read holds it.
	slow = true
	then = func() { f.SetCommentBody(id, with) }
	// 2: while the leg waits its quiet period, a stale write drops the row
	// and the next read is old again.
	mark := -1
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Quiet = quiet
		c.Clock = testClock{now: clock, sleep: func(ctx context.Context, d time.Duration) error {
			if d == quiet && mark < 0 {
				f.SetCommentBody(id, without)
				mu.Lock()
				slow = true
				mu.Unlock()
				mark = len(f.Requests())
			}
			return ctx.Err()
		}}
	})
	// Finish: its row is one that must stay, so it waits the quiet period
	// (Start, whose ⏳ row is replaced anyway, does not).
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v", out)
	}
	if mark < 0 {
		t.Fatal("the leg never waited its quiet period: the scenario did not happen")
	}
	reqs := f.Requests()
	lists, wrote := 0, false
	for _, req := range reqs[mark:] {
		if req.Method == "PATCH" {
			wrote = true
			break
		}
		if req.Method == "GET" && req.Path == listPath {
			lists++
		}
	}
	if !wrote || lists < 2 {
		var log []string
		for _, req := range reqs[mark:] {
			log = append(log, req.Method+" "+req.Path)
		}
		t.Errorf("after the quiet wait the comment was written from an old read (wrote %v, %d listings before):\n%s",
			wrote, lists, strings.Join(log, "\n"))
	}
	if _, ok := findRow(commentState(t, f).Rows, "aws"); !ok {
		t.Error("the row is not in the comment")
	}
}

// A read made again only because the one before was old does not count
// against the cap on reads (old reads have their own bound, errTooSlow, on
// how many come in a row): here one old read, then reads that hold the row
// while another leg's row flickers, end with the row confirmed, not with the
// cap's error.
func TestReadAgainDoesNotCountAgainstTheReadCap(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	const quiet = 8 * time.Second
	listPath := apiPrefix + "/repos/" + testRepo + "/issues/7/comments"
	slow := true // the first listing takes a quiet period
	seen := map[*http.Request]bool{}
	f := newFake(t, fakegh.WithDelay(func(req *http.Request) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if req.Method == "GET" && req.URL.Path == listPath && slow {
			if seen[req] {
				slow, now = false, now.Add(quiet)
			}
			seen[req] = true
		}
		return 0
	}))
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "success", Context: ContextPrefix + "gcp"})

	// After the first write: the quiet wait sees gcp's row vanish (a stale
	// write of another leg), the wait for it sees it back.
	var full string
	sleeps := 0
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Quiet = quiet
		c.Attempts = 1
		c.Clock = testClock{now: clock, sleep: func(ctx context.Context, d time.Duration) error {
			sleeps++
			cs := markerComments(f)
			switch {
			case sleeps == 2 && len(cs) == 1:
				full = cs[0].Body
				st, _, err := matrix.DecodeState(full)
				if err != nil {
					t.Error(err)
					break
				}
				var rows []matrix.Row
				for _, row := range st.Rows {
					if row.Key != "gcp" {
						rows = append(rows, row)
					}
				}
				body, err := CommentBody(matrix.State{HeadSHA: st.HeadSHA, Rows: rows})
				if err != nil {
					t.Error(err)
					break
				}
				f.SetCommentBody(cs[0].ID, body)
			case sleeps == 3 && full != "":
				f.SetCommentBody(cs[0].ID, full)
			}
			return ctx.Err()
		}}
	})
	// Finish: its row is one that must stay, so it waits the quiet period
	// (Start, whose ⏳ row is replaced anyway, does not).
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v (%d sleeps)", out, sleeps)
	}
	if full == "" {
		t.Fatal("the scenario did not happen: no single comment at the quiet wait")
	}
}

// GitHub serves reads from replicas, so a leg's read back may not show its
// own write yet, nor the comment it just created. Against a fake serving
// every read of comments and statuses from a state up to 20 ms old, two
// legs starting and finishing at once still end with one comment holding
// both their own final rows: a read back that misses a write makes the leg
// write again (and a missed new comment makes a duplicate, resolved
// oldest-wins), never confirm a row that is not there. The legs really
// wait (milliseconds), so the lag passes as it would on GitHub.
func TestReadBackSurvivesStaleReads(t *testing.T) {
	const lag = 20 * time.Millisecond
	for trial := range 5 {
		f := newFake(t, fakegh.WithStaleReads(uint64(trial+1), 1, lag))
		var wg sync.WaitGroup
		outs := make([]Outcome, 2)
		for i, key := range []string{"aws", "gcp"} {
			r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
				c.Clock = WallClock{} // real waits: the replicas' lag must pass
				c.Settle = 5 * time.Millisecond
				c.Quiet = 5 * lag
				c.Attempts = 2 * DefaultAttempts
			})
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				if out := r.Start(ctx, matrix.Row{Key: key}); out.Degraded {
					outs[i] = out
					return
				}
				outs[i] = r.Finish(ctx, legRow(key, matrix.Pass, "notes of "+key))
			}()
		}
		wg.Wait()
		for i, out := range outs {
			if out.Degraded || out.CommentURL == "" {
				t.Errorf("trial %d: leg %d: %+v, want its row confirmed", trial, i, out)
			}
		}
		st := commentState(t, f)
		for _, key := range []string{"aws", "gcp"} {
			row, ok := findRow(st.Rows, key)
			if !ok || row.Source != matrix.FromLeg || row.Notes != "notes of "+key || row.Has(matrix.Pending) {
				t.Errorf("trial %d: row %s = %+v (found %v), want the leg's own final row", trial, key, row, ok)
			}
		}
	}
}
