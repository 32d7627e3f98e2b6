package ghreport

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// A comment write that fails after a while (a 502 from a gateway, a rate
// limit) is never resent as it was: its body came from a read made before
// the wait, and another leg may have written since. Here the other leg
// finishes, confirmed and all, while the first leg's write is in flight; the
// first leg must read again and keep the other leg's own row. With a head
// move during the wait, the older leg must not put its matrix back at all.
func TestFailedCommentWriteIsNotResent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    fakegh.Fault
		headMove bool
	}{
		{name: "502", fault: fakegh.Fault{Status: http.StatusBadGateway}},
		{name: "502 after applying", fault: fakegh.Fault{Status: http.StatusBadGateway, Apply: true}},
		{name: "429", fault: fakegh.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second}},
		{name: "502 and head moves", fault: fakegh.Fault{Status: http.StatusBadGateway}, headMove: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			old := legRow("gcp", matrix.Pass, "notes of gcp")
			old.HeadSHA, old.UpdatedAt, old.Source = sha1, time.Unix(100, 0), matrix.FromLeg
			body, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: []matrix.Row{old}})
			if err != nil {
				t.Fatal(err)
			}
			f.AddComment(testRepo, testPR, "github-actions[bot]", body)

			otherHead := sha1
			if tc.headMove {
				otherHead = sha2
			}
			var otherOut Outcome
			// The 502 write may land late, which the leg waits out on
			// this clock; the other leg shares it, so their stamps agree.
			var clock sleepClock
			fault := tc.fault
			fault.Method, fault.Path = http.MethodPatch, "/issues/comments/"
			fault.During = func() {
				if tc.headMove {
					f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
				}
				other, _ := newReporter(t, f, prEvent(otherHead), testToken, clock.use)
				otherOut = other.Finish(context.Background(), legRow("azure", matrix.Fail, "notes of azure"))
			}
			f.Inject(fault)

			r, _ := newReporter(t, f, prEvent(sha1), testToken, clock.use)
			out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
			if otherOut.Degraded || otherOut.CommentURL == "" {
				t.Fatalf("the other leg did not finish while the write was held: %+v", otherOut)
			}

			st := commentState(t, f)
			if st.HeadSHA != otherHead {
				t.Fatalf("comment about %s, want %s (the newest push's)", matrix.ShortSHA(st.HeadSHA), matrix.ShortSHA(otherHead))
			}
			row, ok := findRow(st.Rows, "azure")
			if tc.fault.Apply {
				// The held write landed late, over the other leg's
				// confirmed row: no client can undo that, but the leg that
				// wrote it reads again and restores the row from the other
				// leg's status (cells and notes), never leaving it lost.
				if !ok || row.Cell(matrix.LiveCycle).Status != matrix.Fail || row.Notes != "notes of azure" {
					t.Errorf("the other leg's row = %+v (found %v), want it restored from its status", row, ok)
				}
			} else if !ok || row.Source != matrix.FromLeg || row.Notes != "notes of azure" || row.HeadSHA != otherHead {
				t.Errorf("the other leg's row = %+v (found %v), want its own row for %s: a stale write replaced it",
					row, ok, matrix.ShortSHA(otherHead))
			}
			if tc.headMove {
				if out.Degraded || !strings.Contains(out.Notice, matrix.ShortSHA(sha2)) {
					t.Errorf("outcome = %+v, want a notice that the head moved to %s", out, matrix.ShortSHA(sha2))
				}
				return
			}
			if out.Degraded || out.CommentURL == "" {
				t.Errorf("outcome = %+v, want the row confirmed after reading again", out)
			}
			if row, ok := findRow(st.Rows, "aws"); !ok || row.Source != matrix.FromLeg || row.Notes != "notes of aws" {
				t.Errorf("the leg's own row = %+v (found %v)", row, ok)
			}
		})
	}
}

// Comment writes that keep failing are never resent blindly: every write
// comes after a fresh read of the comments and of the PR's head, the writes
// stop at Attempts, and the notice names the failure. A 502 may still land,
// so after giving up the leg waits that out and writes once more, from a
// fresh read, what the comment lacks (repairAfterLate): Attempts+1 in all.
func TestEveryCommentWriteFollowsAFreshRead(t *testing.T) {
	f := newFake(t)
	f.AddComment(testRepo, testPR, "github-actions[bot]", mustBody(t, legRow("gcp", matrix.Pass, "x")))
	f.Inject(fakegh.Fault{Method: http.MethodPatch, Path: "/issues/comments/", Status: http.StatusBadGateway, Times: 1000})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) { c.Attempts = 4 })
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "mine"))
	if !out.Degraded || !strings.Contains(out.Notice, "502") {
		t.Errorf("outcome = %+v, want degraded naming the 502", out)
	}
	patches, readSince, headSince := 0, false, false
	for _, req := range f.Requests() {
		switch {
		case req.Method == http.MethodGet && strings.HasSuffix(req.Path, "/comments"):
			readSince = true
		case req.Method == http.MethodGet && strings.Contains(req.Path, "/pulls/"):
			headSince = true
		case req.Method == http.MethodPatch:
			patches++
			if !readSince || !headSince {
				t.Errorf("write %d was not preceded by a fresh read of the comments and the PR's head", patches)
			}
			readSince, headSince = false, false
		}
	}
	if patches != 4+1 {
		t.Errorf("%d comment writes, want Attempts (4) and one repair", patches)
	}
}

func mustBody(t *testing.T, rows ...matrix.Row) string {
	t.Helper()
	for i := range rows {
		rows[i].HeadSHA, rows[i].Source = sha1, matrix.FromLeg
	}
	body, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// The report's final write fails after the PR's head moved and a leg of
// the newer push wrote: the report must not put the older matrix back.
func TestFinalWriteNotResentOverANewerHead(t *testing.T) {
	f := newFake(t)
	reportFixture(t, f) // a comment about sha1
	f.Inject(fakegh.Fault{Method: http.MethodPatch, Path: "/issues/comments/", Status: http.StatusBadGateway, During: func() {
		f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
		leg, _ := newReporter(t, f, prEvent(sha2), testToken, nil)
		if out := leg.Finish(context.Background(), legRow("azure", matrix.Pass, "newer push")); out.Degraded {
			t.Errorf("newer leg: %+v", out)
		}
	}})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	_, out, err := r.Report(context.Background(), []string{"aws", "gcp", "azure"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Notice, "2222222") {
		t.Errorf("outcome = %+v, want a notice that the head moved", out)
	}
	st := commentState(t, f)
	if row, ok := findRow(st.Rows, "azure"); st.HeadSHA != sha2 || !ok || row.Notes != "newer push" || row.Source != matrix.FromLeg {
		t.Errorf("comment about %s with azure %+v, want the newer push's matrix kept", matrix.ShortSHA(st.HeadSHA), row)
	}
}
