package ghreport

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// matrixBody is a matrix comment body holding rows for head.
func matrixBody(t *testing.T, head string, rows ...matrix.Row) string {
	t.Helper()
	body, err := CommentBody(matrix.State{HeadSHA: head, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// headRow is a leg's own row for sha1, as another leg would have written it.
func headRow(key string) matrix.Row {
	row := legRow(key, matrix.Pass, "notes of "+key)
	row.HeadSHA, row.UpdatedAt = sha1, time.Now().Add(-time.Minute).UTC()
	return row
}

// requestLog is the fake's request log, one request a line.
func requestLog(f *fakegh.Server) string {
	var lines []string
	for _, req := range f.Requests() {
		lines = append(lines, fmt.Sprintf("%s %s %d", req.Method, req.Path, req.Status))
	}
	return strings.Join(lines, "\n")
}

// The comment is deleted (another leg deleted it as a duplicate, or a
// person did) while a leg's update of it is in flight: the update gets 404,
// and the leg reads again, finds no comment, creates one with its row (and
// the rows it had read, which the deleted comment held) and confirms it.
func TestCommentDeletedDuringUpdateIsRecreated(t *testing.T) {
	f := newFake(t)
	id := f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, headRow("gcp")))
	deleted := false
	f.Inject(fakegh.Fault{Method: "PATCH", Path: fmt.Sprintf("/issues/comments/%d", id), During: func() {
		deleted = f.DeleteComment(id)
	}})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
	if !deleted {
		t.Fatalf("the comment was never updated, so the scenario did not happen:\n%s", requestLog(f))
	}
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v, want the row confirmed in a new comment\n%s", out, requestLog(f))
	}
	cs := markerComments(f)
	if len(cs) != 1 || cs[0].ID == id {
		t.Fatalf("%d matrix comments (%+v), want one new comment in place of the deleted %d", len(cs), cs, id)
	}
	if want := fmt.Sprintf("#issuecomment-%d", cs[0].ID); !strings.HasSuffix(out.CommentURL, want) {
		t.Errorf("CommentURL %s, want the new comment's (%s)", out.CommentURL, want)
	}
	st := commentState(t, f)
	for _, key := range []string{"aws", "gcp"} {
		row, ok := findRow(st.Rows, key)
		if !ok || row.Source != matrix.FromLeg || row.Notes != "notes of "+key {
			t.Errorf("row %s = %+v (found %v), want the leg's own row", key, row, ok)
		}
	}
	log := requestLog(f)
	patch404 := strings.Index(log, fmt.Sprintf("PATCH /repos/%s/issues/comments/%d 404", testRepo, id))
	created := strings.Index(log, fmt.Sprintf("POST /repos/%s/issues/%d/comments 201", testRepo, testPR))
	if patch404 < 0 || created < patch404 {
		t.Errorf("want the update answered 404 and then a comment created:\n%s", log)
	}
}

// Two legs delete the same duplicate at once: the one whose delete lands
// second gets 404, which means the duplicate is gone, as wanted. The leg
// carries on deleting the other duplicates in the same write, so with a
// single write allowed it still ends with one comment holding its row.
func TestDuplicateAlreadyDeletedIsNotAnError(t *testing.T) {
	f := newFake(t)
	primary := f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, headRow("gcp")))
	dup1 := f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, headRow("azure")))
	dup2 := f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, headRow("vultr")))
	raced := false
	f.Inject(fakegh.Fault{Method: "DELETE", Path: fmt.Sprintf("/issues/comments/%d", dup1), During: func() {
		raced = f.DeleteComment(dup1) // another leg's delete lands first
	}})
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) { c.Attempts = 1 })
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
	if !raced {
		t.Fatalf("the duplicate was never deleted, so the scenario did not happen:\n%s", requestLog(f))
	}
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v, want the row confirmed with one write\n%s", out, requestLog(f))
	}
	cs := markerComments(f)
	if len(cs) != 1 || cs[0].ID != primary {
		t.Fatalf("matrix comments %+v, want only the oldest (%d); %d and %d deleted", cs, primary, dup1, dup2)
	}
	st := commentState(t, f)
	for _, key := range []string{"aws", "gcp", "azure", "vultr"} {
		if _, ok := findRow(st.Rows, key); !ok {
			t.Errorf("row %s lost", key)
		}
	}
}
