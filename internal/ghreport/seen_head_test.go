package ghreport

import (
	"context"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// TestSeenRowsOfAnOlderPushAreNotKept: a leg of the newer push (sha2)
// reads a comment still about the older one, holding another leg's own
// row for sha1. That row is not remembered for sha2: once the comment is
// replaced by a fresh matrix for sha2 without it (the newer push's report,
// say), the leg's next write does not bring the older push's row back.
func TestSeenRowsOfAnOlderPushAreNotKept(t *testing.T) {
	f := newFake(t)
	f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
	f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, headRow("gcp")))
	r, _ := newReporter(t, f, prEvent(sha2), testToken, nil)
	ctx := context.Background()
	if out := r.Start(ctx, matrix.Row{Key: "aws"}); out.Degraded || out.CommentURL == "" {
		t.Fatalf("Start: %+v, want the row in the comment\n%s", out, requestLog(f))
	}

	// The comment becomes a fresh matrix for sha2: the leg's own row, and
	// nothing of sha1.
	st := commentState(t, f)
	var fresh []matrix.Row
	for _, row := range st.Rows {
		if row.HeadSHA == sha2 {
			fresh = append(fresh, row)
		}
	}
	if _, ok := findRow(fresh, "aws"); !ok {
		t.Fatalf("the comment after Start holds no row aws for sha2: %+v", st.Rows)
	}
	f.SetCommentBody(markerComments(f)[0].ID, matrixBody(t, sha2, fresh...))

	if out := r.Finish(ctx, legRow("aws", matrix.Pass, "notes of aws")); out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v, want the row in the comment\n%s", out, requestLog(f))
	}
	st = commentState(t, f)
	if st.HeadSHA != sha2 {
		t.Errorf("comment is about %s, want %s", st.HeadSHA, sha2)
	}
	if row, ok := findRow(st.Rows, "gcp"); ok {
		t.Errorf("the older push's row came back into the matrix for %s: %+v", sha2, row)
	}
	if row, ok := findRow(st.Rows, "aws"); !ok || row.HeadSHA != sha2 || row.Notes != "notes of aws" {
		t.Errorf("row aws = %+v (found %v), want the leg's final row for %s", row, ok, sha2)
	}
}
