package ghreport

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// A read that took longer than half the quiet period (here: its comment
// listing answered 502 while the clock moved a whole quiet period) is not
// written from: the leg reads the comment again first, so its write stays
// within the quiet period of the read it is built on.
func TestOldReadIsReadAgainBeforeWriting(t *testing.T) {
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
		now = now.Add(quiet)
		mu.Unlock()
	}})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Now = clock
		c.Quiet = quiet
	})
	out := r.Start(context.Background(), matrix.Row{Key: "aws"})
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Start: %+v", out)
	}
	listPath := "/repos/" + testRepo + "/issues/7/comments"
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
