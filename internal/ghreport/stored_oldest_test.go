package ghreport

import (
	"context"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// TestStoredHeadIsTheOldestComments: with duplicate matrix comments the
// oldest is the matrix (the others are merged into it and deleted), so
// the commit the matrix is about is the oldest comment's. Here the oldest
// is about sha2 and a newer duplicate about sha1; a leg of sha1 reads them
// while the PR's head moves on to sha2. Before writing over a matrix about
// another commit the leg checks the head again, finds it moved, and is
// superseded: the matrix of the newer push stays as it is. Taking the
// newer duplicate's sha1 for the matrix's commit would skip that check and
// write the older push over it.
func TestStoredHeadIsTheOldestComments(t *testing.T) {
	f := newFake(t) // the PR's head is sha1
	gcp2 := headRow("gcp")
	gcp2.HeadSHA = sha2
	oldestBody := matrixBody(t, sha2, gcp2)
	oldest := f.AddComment(testRepo, testPR, "github-actions[bot]", oldestBody)
	f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, headRow("azure")))
	// The head moves while the leg lists the comments, after it checked it.
	moved := false
	f.Inject(fakegh.Fault{Method: "GET", Path: "/comments", During: func() {
		f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
		moved = true
	}})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
	if !moved {
		t.Fatalf("the comments were never listed, so the head never moved:\n%s", requestLog(f))
	}
	if !strings.Contains(out.Notice, "the PR's head is now "+matrix.ShortSHA(sha2)) {
		t.Errorf("Finish: %+v, want it superseded by the head %s", out, matrix.ShortSHA(sha2))
	}
	for _, req := range f.Requests() {
		if strings.Contains(req.Path, "/comments") && req.Method != "GET" {
			t.Errorf("the leg of the older push changed the comments (%s %s):\n%s", req.Method, req.Path, requestLog(f))
			break
		}
	}
	cs := markerComments(f)
	if len(cs) == 0 || cs[0].ID != oldest || cs[0].Body != oldestBody {
		t.Errorf("the oldest comment (%d, about %s) is gone or changed: %+v", oldest, matrix.ShortSHA(sha2), cs)
	}
}
