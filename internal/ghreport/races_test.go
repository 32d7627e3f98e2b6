package ghreport

import (
	"context"
	"fmt"
	"slices"
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
	patch404 := strings.Index(log, fmt.Sprintf("PATCH %s/repos/%s/issues/comments/%d 404", apiPrefix, testRepo, id))
	created := strings.Index(log, fmt.Sprintf("POST %s/repos/%s/issues/%d/comments 201", apiPrefix, testRepo, testPR))
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

// A leg's row flips while the leg watches it: another leg, from a read made
// while the leg was still writing, puts back the row rebuilt from its
// status, and a third leg, which had read the leg's own row, restores it,
// so the leg's next read holds its row again, as before. A fourth leg read
// the comment in between (without the leg's row) and its write lands after
// that next read. The leg must not trust its row on the two reads that held
// it, as the comment changed between them: it watches again, sees the late
// write drop its row, and writes it again. (Before the write tag, the two
// reads looked the same and the row was lost.)
func TestRowFlippedAndRestoredWhileWatchedIsWatchedAgain(t *testing.T) {
	f := newFake(t)
	const quiet = 7 * time.Second
	var late string // the fourth leg's write, built from the flipped comment
	quietWaits := 0
	flip := func(st matrix.State, keep bool) string {
		rows := slices.Clone(st.Rows)
		for i := range rows {
			if rows[i].Key == "aws" && !keep {
				rows[i].Source, rows[i].Notes = matrix.FromStatus, "rebuilt from the status"
			}
		}
		return matrixBody(t, st.HeadSHA, rows...) + newWriteTag()
	}
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Quiet = quiet
		c.Clock = testClock{sleep: func(ctx context.Context, d time.Duration) error {
			if d != quiet {
				return ctx.Err()
			}
			quietWaits++
			cs := markerComments(f)
			switch quietWaits {
			case 1:
				st, _, err := matrix.DecodeState(cs[0].Body)
				if err != nil {
					t.Error(err)
					break
				}
				late = flip(st, false)
				f.SetCommentBody(cs[0].ID, late)           // the flip
				f.SetCommentBody(cs[0].ID, flip(st, true)) // and back
			case 2:
				f.SetCommentBody(cs[0].ID, late) // the fourth leg's write lands
				late = ""
			}
			return ctx.Err()
		}}
	})
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "notes of aws"))
	if late != "" {
		// The leg stopped watching before the late write landed: it
		// lands now, within a quiet period of the read it was built on.
		f.SetCommentBody(markerComments(f)[0].ID, late)
	}
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v", out)
	}
	if quietWaits == 0 {
		t.Fatal("the leg never watched its row, so the scenario did not happen")
	}
	row, ok := findRow(commentState(t, f).Rows, "aws")
	if !ok || row.Source != matrix.FromLeg || row.Notes != "notes of aws" {
		t.Errorf("row aws = %+v (found %v), want the leg's own row: the leg trusted it before the late write landed", row, ok)
	}
}

// A leg that has read another leg's own row keeps it in its writes: when
// the comment it reads next holds that row only as rebuilt from its status
// (a stale write flipped it), its write puts the own row back, with its
// notes, rather than writing the flip on.
func TestSeenOwnRowsAreKeptInWrites(t *testing.T) {
	f := newFake(t)
	aws := headRow("aws")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: "success", Context: ContextPrefix + "aws", Description: Describe(aws)})
	id := f.AddComment(testRepo, testPR, "github-actions[bot]", matrixBody(t, sha1, aws))
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	ctx := context.Background()
	if out := r.Start(ctx, matrix.Row{Key: "gcp"}); out.Degraded {
		t.Fatalf("Start: %+v", out)
	}
	st := commentState(t, f)
	for i := range st.Rows {
		if st.Rows[i].Key == "aws" {
			st.Rows[i].Source, st.Rows[i].Notes = matrix.FromStatus, "rebuilt from the status"
		}
	}
	f.SetCommentBody(id, matrixBody(t, sha1, st.Rows...))
	if out := r.Finish(ctx, legRow("gcp", matrix.Pass, "notes of gcp")); out.Degraded {
		t.Fatalf("Finish: %+v", out)
	}
	row, ok := findRow(commentState(t, f).Rows, "aws")
	if !ok || row.Source != matrix.FromLeg || row.Notes != aws.Notes {
		t.Errorf("row aws = %+v (found %v), want its own row, which this leg had read", row, ok)
	}
}
