package ghreport

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// ownComments are the marker comments by login, oldest first.
func ownComments(f *fakegh.Server, login string) []fakegh.Comment {
	var out []fakegh.Comment
	for _, c := range markerComments(f) {
		if c.Login == login {
			out = append(out, c)
		}
	}
	return out
}

func stateOf(t *testing.T, c fakegh.Comment) matrix.State {
	t.Helper()
	st, found, err := matrix.DecodeState(c.Body)
	if err != nil || !found {
		t.Fatalf("decode comment %d: found=%v err=%v", c.ID, found, err)
	}
	return st
}

// Anyone who can comment can post a comment starting with the marker. An
// outsider's earlier one, whose hidden state says aws passed (and claims to
// be from the year 2999), must not become the matrix: the aws leg's failure
// stands, in the legs' own comment, and the outsider's comment is neither
// merged, edited nor deleted — with the legs on GITHUB_TOKEN and the report
// job on either GITHUB_TOKEN or a personal access token.
func TestForgedMatrixCommentIsIgnored(t *testing.T) {
	for _, reportToken := range []string{testToken, "ghp_alice_personal_token"} {
		t.Run(reportToken[:4], func(t *testing.T) {
			f := newFake(t)
			f.AddToken("ghp_alice_personal_token", fakegh.Token{Login: "alice", PAT: true})
			forged := legRow("aws", matrix.Pass, "all good (forged)")
			forged.HeadSHA, forged.Source = sha1, matrix.FromLeg
			forged.UpdatedAt = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)
			body, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: []matrix.Row{forged}})
			if err != nil {
				t.Fatal(err)
			}
			f.AddComment(testRepo, testPR, "mallory", body)

			leg, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
			if out := leg.Finish(context.Background(), legRow("aws", matrix.Fail, "boom")); out.Degraded || out.CommentURL == "" {
				t.Fatalf("leg outcome = %+v", out)
			}
			rep, _ := newReporter(t, f, prEvent(sha1), reportToken, nil)
			rows, out, err := rep.Report(context.Background(), []string{"aws"}, "")
			if err != nil || out.Degraded {
				t.Fatalf("Report: %v %+v", err, out)
			}
			if len(rows) != 1 || rows[0].Cell(matrix.LiveCycle).Status != matrix.Fail || strings.Contains(rows[0].Notes, "forged") {
				t.Errorf("final rows = %+v, want aws failed as the leg reported", rows)
			}
			if m := ownComments(f, "mallory"); len(m) != 1 || m[0].Body != body {
				t.Errorf("the outsider's comment was changed or deleted: %+v", m)
			}
			ours := ownComments(f, "github-actions[bot]")
			if len(ours) != 1 {
				t.Fatalf("%d matrix comments by the legs' account, want 1 (the report must write into it)", len(ours))
			}
			if n := len(ownComments(f, "alice")); n != 0 {
				t.Errorf("the report made %d comments of its own beside the legs' one", n)
			}
			row, ok := findRow(stateOf(t, ours[0]).Rows, "aws")
			if !ok || row.Cell(matrix.LiveCycle).Status != matrix.Fail || row.Notes != "boom" {
				t.Errorf("matrix comment aws row = %+v, want the leg's failure", row)
			}
		})
	}
}

// A row in the legs' own comment that contradicts its leg's finished status
// (here: it says passed, the status says failed) is rebuilt from the status,
// and no row keeps an UpdatedAt from the future.
func TestRowContradictingItsStatusIsRebuilt(t *testing.T) {
	f := newFake(t)
	wrong := legRow("aws", matrix.Pass, "says passed")
	wrong.HeadSHA, wrong.Source = sha1, matrix.FromLeg
	wrong.UpdatedAt = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)
	future := legRow("gcp", matrix.Pass, "no status")
	future.HeadSHA, future.Source, future.UpdatedAt = sha1, matrix.FromLeg, wrong.UpdatedAt
	body, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: []matrix.Row{wrong, future}})
	if err != nil {
		t.Fatal(err)
	}
	f.AddComment(testRepo, testPR, "github-actions[bot]", body)
	failed := legRow("aws", matrix.Fail, "really failed")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: StatusState(failed), Description: Describe(failed), Context: ContextPrefix + "aws"})

	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := r.Finish(context.Background(), legRow("azure", matrix.Pass, "mine")); out.Degraded {
		t.Fatalf("outcome = %+v", out)
	}
	st := commentState(t, f)
	if row, _ := findRow(st.Rows, "aws"); row.Cell(matrix.LiveCycle).Status != matrix.Fail || row.Notes != "really failed" {
		t.Errorf("aws = %+v, want it rebuilt from its failed status", row)
	}
	if row, _ := findRow(st.Rows, "gcp"); row.UpdatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("gcp kept UpdatedAt %s from the future", row.UpdatedAt)
	}
}

// appToken is a GitHub App's installation token: GET /user refuses it, so
// the Reporter learns its login only from what it writes.
const (
	appToken = "ghs_app_installation_token_0123"
	appLogin = "myapp[bot]"
)

// The report job posts no status, and GET /user refuses an App's token, so
// on a PR whose legs posted no statuses the report knows its own login only
// from the comment it creates. It must count that comment as its own: one
// matrix comment after a Report, and still one after a second Report (a
// re-run), each without a notice that the rows did not stay.
func TestReportWithAppTokenFindsItsOwnComment(t *testing.T) {
	f := newFake(t)
	f.AddToken(appToken, fakegh.Token{Login: appLogin})
	var first int64
	for run := 1; run <= 2; run++ {
		rep, _ := newReporter(t, f, prEvent(sha1), appToken, nil)
		rows, out, err := rep.Report(context.Background(), []string{"aws", "gcp"}, "")
		if err != nil || out.Degraded || out.CommentURL == "" {
			t.Fatalf("run %d: Report: err=%v outcome=%+v", run, err, out)
		}
		if len(rows) != 2 {
			t.Errorf("run %d: %d final rows, want 2 (aws and gcp placeholders)", run, len(rows))
		}
		ours := ownComments(f, appLogin)
		if len(ours) != 1 || len(markerComments(f)) != 1 {
			t.Fatalf("run %d: %d matrix comments by %s (%d in all), want exactly 1", run, len(ours), appLogin, len(markerComments(f)))
		}
		// The re-run cannot know the first run's comment is its own
		// before it has created one; then the older one must be kept.
		if run == 1 {
			first = ours[0].ID
		} else if ours[0].ID != first {
			t.Errorf("run 2 left comment %d, want the first run's %d kept (oldest wins)", ours[0].ID, first)
		}
		st := stateOf(t, ours[0])
		if _, ok := findRow(st.Rows, "gcp"); !ok || st.HeadSHA != sha1 {
			t.Errorf("run %d: comment state = %+v, want the final matrix for %s", run, st, sha1)
		}
	}
}

// A leg on an App's token learns its login from the status it posts before
// writing its row, so it too keeps to one comment, across Start and Finish
// and a second leg on the same token.
func TestLegWithAppTokenKeepsOneComment(t *testing.T) {
	f := newFake(t)
	f.AddToken(appToken, fakegh.Token{Login: appLogin})
	for _, key := range []string{"aws", "gcp"} {
		leg, _ := newReporter(t, f, prEvent(sha1), appToken, nil)
		if out := leg.Start(context.Background(), legRow(key, matrix.Pending, "")); out.Degraded {
			t.Fatalf("%s Start: %+v", key, out)
		}
		if out := leg.Finish(context.Background(), legRow(key, matrix.Pass, "")); out.Degraded || out.CommentURL == "" {
			t.Fatalf("%s Finish: %+v", key, out)
		}
	}
	ours := ownComments(f, appLogin)
	if len(ours) != 1 || len(markerComments(f)) != 1 {
		t.Fatalf("%d matrix comments by %s (%d in all), want exactly 1", len(ours), appLogin, len(markerComments(f)))
	}
	for _, key := range []string{"aws", "gcp"} {
		if row, ok := findRow(stateOf(t, ours[0]).Rows, key); !ok || row.Cell(matrix.LiveCycle).Status != matrix.Pass {
			t.Errorf("%s row = %+v, want passed", key, row)
		}
	}
}
