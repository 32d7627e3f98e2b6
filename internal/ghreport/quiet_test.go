package ghreport

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// The interleaving the quiet period is there for, with an outcome to
// check: leg A reads the comment before leg X's final row lands and writes
// from that read, and GitHub holds A's write, then applies and answers it
// within A's deadline (3·Quiet/4 after its read), so it is no late write
// and A watches no window for it. X meanwhile posts its final status,
// writes its final row and watches it. The hold lasts until X's Finish
// returns or Quiet/2 has passed, whichever comes first: a leg that
// trusted its row before a write of that age could land would return
// first, and the write would then put X's ⏳ row back (all A read) after X
// stopped watching; A, which never saw X's final row, could only rebuild
// it from X's status. With the quiet period X is still watching when the
// write lands and writes its own row back. X's row must end as its own
// final row, notes and all.
//
// Checked against the mutation of the quiet wait to Quiet/20 (sticky.go):
// X returns before the write lands, and its row ends rebuilt from its
// status, so this test fails.
func TestQuietPeriodOutlastsAStaleWriteAnsweredInTime(t *testing.T) {
	f := newFake(t)
	const speedup = 100 // Quiet: 60 ms of real time
	clock := newFastClock(speedup)
	oldA := headRow("aws")
	x := legRow("gcp", matrix.Pending, "")
	x.HeadSHA, x.UpdatedAt = sha1, oldA.UpdatedAt
	for _, k := range matrix.Columns() {
		x.Set(k, matrix.Pending, "")
	}
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "success", Context: ContextPrefix + "aws", Description: Describe(oldA)})
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "pending", Context: ContextPrefix + "gcp", Description: Describe(x)})
	f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, oldA, x))

	legX := newFastReporter(t, f, prEvent(sha1), clock, func(c *Config) { c.Settle = c.Quiet / 60 })
	legA := newFastReporter(t, f, prEvent(sha1), clock, func(c *Config) { c.Settle = c.Quiet / 60 })
	quiet := DefaultQuiet / speedup // in real time

	xDone := make(chan Outcome, 1)
	var held atomic.Bool
	f.Inject(fakegh.Fault{Method: http.MethodPatch, Path: "/issues/comments/", During: func() {
		// A's first write, built from a read without X's final row.
		held.Store(true)
		go func() { xDone <- legX.Finish(context.Background(), legRow("gcp", matrix.Pass, "notes of gcp")) }()
		select {
		case out := <-xDone:
			xDone <- out
		case <-time.After(quiet / 2):
		}
	}})
	newA := legRow("aws", matrix.Pass, "new notes of aws")
	if out := legA.Finish(context.Background(), newA); out.Degraded {
		t.Errorf("leg A: %+v", out)
	}
	if !held.Load() {
		t.Fatalf("leg A never wrote, so the scenario did not happen:\n%s", requestLog(f))
	}
	if out := <-xDone; out.Degraded {
		t.Errorf("leg X: %+v", out)
	}
	st := commentState(t, f)
	for key, notes := range map[string]string{"gcp": "notes of gcp", "aws": "new notes of aws"} {
		row, ok := findRow(st.Rows, key)
		if !ok || row.Source != matrix.FromLeg || row.Notes != notes || row.Has(matrix.Pending) {
			t.Errorf("row %s = %+v (found %v), want the leg's own final row with notes %q\n%s", key, row, ok, notes,
				requestLog(f))
		}
	}
}
