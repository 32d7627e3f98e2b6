package ghreport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

func TestStartThenFinish(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	ctx := context.Background()

	out := r.Start(ctx, matrix.Row{Key: "aws"})
	if out.Degraded || out.Notice != "" || !out.StatusPosted || out.CommentURL == "" {
		t.Fatalf("Start outcome = %+v, want status and comment", out)
	}
	st, ok := latestStatus(f, sha1, "mvm-verify/aws")
	if !ok || st.State != "pending" || st.TargetURL != runURL {
		t.Fatalf("status after Start = %+v, want pending linking %s", st, runURL)
	}
	row, ok := findRow(commentState(t, f).Rows, "aws")
	if !ok || row.Cell(matrix.LiveCycle).Status != matrix.Pending || row.Provider != "AWS" {
		t.Fatalf("comment row after Start = %+v, want ⏳ AWS", row)
	}
	if body := markerComments(f)[0].Body; !strings.Contains(body, "| [AWS]("+runURL+") | ⏳ | ⏳ | ⏳ |") {
		t.Errorf("comment does not show the ⏳ row:\n%s", body)
	}

	out = r.Finish(ctx, legRow("aws", matrix.Pass, "$2.50 / 35 min, c8i.large"))
	if out.Degraded || !out.StatusPosted || out.CommentURL == "" {
		t.Fatalf("Finish outcome = %+v", out)
	}
	st, _ = latestStatus(f, sha1, "mvm-verify/aws")
	if st.State != "success" || st.Description != "✅ Preflight · ✅ Live cycle · ✅ Seccomp probe · $2.50 / 35 min, c8i.large" {
		t.Errorf("status after Finish = %q %q", st.State, st.Description)
	}
	row, _ = findRow(commentState(t, f).Rows, "aws")
	if row.Cell(matrix.LiveCycle).Status != matrix.Pass || row.Notes != "$2.50 / 35 min, c8i.large" || row.Source != matrix.FromLeg {
		t.Errorf("comment row after Finish = %+v", row)
	}
	if n := len(f.Comments(testRepo, testPR)); n != 1 {
		t.Errorf("%d comments on the PR, want 1", n)
	}
}

func TestFailedLegSetsFailureStatus(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	out := r.Finish(context.Background(), legRow("gcp", matrix.Fail, "seccomp_apply: 2 failed"))
	if out.Degraded {
		t.Fatalf("Finish: %+v", out)
	}
	if st, _ := latestStatus(f, sha1, "mvm-verify/gcp"); st.State != "failure" {
		t.Errorf("status state %q, want failure", st.State)
	}
}

func TestPushEventSetsStatusOnly(t *testing.T) {
	f := newFake(t)
	ev := Event{Name: "push", Repo: testRepo, HeadSHA: sha2, RunURL: runURL}
	r, _ := newReporter(t, f, ev, testToken, nil)
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
	if out.Degraded || !out.StatusPosted || out.CommentURL != "" {
		t.Fatalf("Finish on push = %+v, want a status and no comment", out)
	}
	if _, ok := latestStatus(f, sha2, "mvm-verify/aws"); !ok {
		t.Error("no status on the pushed commit")
	}
	if n := len(f.Comments(testRepo, testPR)); n != 0 {
		t.Errorf("%d comments after a push event, want 0", n)
	}
}

func TestStatusDescriptionStaysUnder140(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	long := strings.Repeat("very long first failure ", 40)
	if out := r.Finish(context.Background(), legRow("aws", matrix.Fail, long)); out.Degraded {
		t.Fatalf("Finish with long notes: %+v", out)
	}
	st, _ := latestStatus(f, sha1, "mvm-verify/aws")
	if n := len([]rune(st.Description)); n >= 140 || !strings.HasSuffix(st.Description, "…") {
		t.Errorf("description has %d characters (want < 140, cut with …): %q", n, st.Description)
	}
}

func TestStaleHeadDoesNotTouchComment(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	// The PR moved on to sha2, and a leg for sha2 has reported.
	f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
	fresh, _ := newReporter(t, f, prEvent(sha2), testToken, nil)
	if out := fresh.Finish(ctx, legRow("aws", matrix.Pass, "new")); out.Degraded {
		t.Fatalf("fresh leg: %+v", out)
	}
	before := markerComments(f)[0].Body

	// A re-run of the old push finishes later, for sha1.
	stale, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	out := stale.Finish(ctx, legRow("aws", matrix.Fail, "old"))
	if out.Degraded || !out.StatusPosted || !strings.Contains(out.Notice, "2222222") {
		t.Fatalf("stale leg outcome = %+v, want its status and a notice naming the new head", out)
	}
	if after := markerComments(f)[0].Body; after != before {
		t.Errorf("a leg for an older head changed the comment:\n%s\n---\n%s", before, after)
	}
	if _, ok := latestStatus(f, sha1, "mvm-verify/aws"); !ok {
		t.Error("the stale leg's status is missing on its own commit")
	}
}

func TestNewHeadTakesOverOldComment(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	old, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	old.Finish(ctx, legRow("aws", matrix.Pass, ""))
	old2, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	old2.Finish(ctx, legRow("gcp", matrix.Pass, ""))

	f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
	r, _ := newReporter(t, f, prEvent(sha2), testToken, nil)
	if out := r.Start(ctx, matrix.Row{Key: "aws"}); out.Degraded {
		t.Fatalf("Start: %+v", out)
	}
	st := commentState(t, f)
	if st.HeadSHA != sha2 {
		t.Errorf("comment is about %s, want %s", st.HeadSHA, sha2)
	}
	aws, _ := findRow(st.Rows, "aws")
	gcp, ok := findRow(st.Rows, "gcp")
	if aws.HeadSHA != sha2 || !aws.Has(matrix.Pending) {
		t.Errorf("aws row = %+v, want ⏳ for the new head", aws)
	}
	if !ok || gcp.HeadSHA != sha1 {
		t.Fatalf("gcp row = %+v, want kept (for the old head)", gcp)
	}
	body := markerComments(f)[0].Body
	if !strings.Contains(body, "| GCP | ? | ? | ? | no result yet for 2222222; last reported for 1111111 |") {
		t.Errorf("old-head row not shown as unknown:\n%s", body)
	}
}

func TestDuplicateCommentsOldestWins(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	body := func(rows ...matrix.Row) string {
		b, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: rows})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	at := time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)
	gcp := legRow("gcp", matrix.Pass, "from the first comment")
	gcp.HeadSHA, gcp.UpdatedAt = sha1, at
	ovh := legRow("ovh", matrix.Fail, "from the second comment")
	ovh.HeadSHA, ovh.UpdatedAt = sha1, at
	f.AddComment(testRepo, testPR, "someone", "unrelated comment")
	first := f.AddComment(testRepo, testPR, "github-actions[bot]", body(gcp))
	f.AddComment(testRepo, testPR, "github-actions[bot]", body(ovh))
	// A quoted marker is not a matrix comment.
	f.AddComment(testRepo, testPR, "someone", "> "+Marker)

	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := r.Finish(ctx, legRow("aws", matrix.Pass, "")); out.Degraded {
		t.Fatalf("Finish: %+v", out)
	}
	cs := markerComments(f)
	if len(cs) != 1 || cs[0].ID != first {
		t.Fatalf("matrix comments %v, want only the oldest (%d)", cs, first)
	}
	st := commentState(t, f)
	for _, key := range []string{"aws", "gcp", "ovh"} {
		if _, ok := findRow(st.Rows, key); !ok {
			t.Errorf("row %s lost while resolving duplicates", key)
		}
	}
	if n := len(f.Comments(testRepo, testPR)); n != 3 {
		t.Errorf("%d comments left, want 3 (the two unrelated ones and the matrix)", n)
	}
}

func TestFindsCommentAcrossPages(t *testing.T) {
	f := newFake(t, fakegh.WithMaxPerPage(10))
	ctx := context.Background()
	for i := range 25 {
		f.AddComment(testRepo, testPR, "someone", "comment "+string(rune('a'+i)))
	}
	first, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	first.Finish(ctx, legRow("aws", matrix.Pass, ""))
	for i := range 12 {
		f.AddComment(testRepo, testPR, "someone", "later comment "+string(rune('a'+i)))
	}
	second, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := second.Finish(ctx, legRow("gcp", matrix.Pass, "")); out.Degraded {
		t.Fatalf("Finish: %+v", out)
	}
	st := commentState(t, f) // fails on a second matrix comment
	if len(st.Rows) != 2 {
		t.Errorf("rows %d, want 2", len(st.Rows))
	}
}

func TestLongNotesFitTheComment(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	for _, key := range []string{"aws", "gcp", "azure", "ovh"} {
		r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
		out := r.Finish(ctx, legRow(key, matrix.Fail, strings.Repeat("x", 30000)))
		if out.Degraded {
			t.Fatalf("Finish %s with 30k notes: %+v", key, out)
		}
	}
	body := markerComments(f)[0].Body
	if n := len([]rune(body)); n > fakegh.MaxCommentBody {
		t.Fatalf("comment has %d characters", n)
	}
	if len(commentState(t, f).Rows) != 4 {
		t.Error("rows lost while cutting notes")
	}
}

func TestEnterpriseBaseURL(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) { c.APIURL = f.URL() + "api/v3" })
	if out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "")); out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish against a GHES-style base URL: %+v", out)
	}
	for _, req := range f.Requests() {
		if !strings.HasPrefix(req.Path, "/api/v3/") {
			t.Errorf("request %s %s outside the configured base URL", req.Method, req.Path)
		}
	}
}

// New refuses a malformed repository or API URL with an *InputError that
// reads as every refused input does: the input, the value, the form.
func TestNewRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg         Config
		input, want string
	}{
		"repo": {Config{Repo: "no-slash", Token: "x"}, "github-repository",
			`input "github-repository": got "no-slash", expected owner/name like tinylabscom/mvm`},
		"no repo": {Config{Token: "x"}, "github-repository",
			`input "github-repository": missing, expected owner/name`},
		"api url": {Config{Repo: testRepo, APIURL: "ftp://x", Token: "x"}, "github-api-url",
			`input "github-api-url": got "ftp://x", expected an http(s) URL like ` + DefaultAPIURL},
	} {
		_, err := New(tc.cfg)
		var in *InputError
		if !errors.As(err, &in) || in.Input != tc.input || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: New(%+v) = %v, want an *InputError starting %q", name, tc.cfg, err, tc.want)
		}
	}
}

func TestFailureWithPendingCellSettles(t *testing.T) {
	// A failed leg whose row still has a ⏳ cell: its status (failure) and
	// its row must agree, or legs would rebuild each other's rows forever.
	f := newFake(t)
	ctx := context.Background()
	row := matrix.Row{Key: "aws"}
	row.Set(matrix.Preflight, matrix.Fail, "")
	row.Set(matrix.LiveCycle, matrix.Pending, "")
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := r.Update(ctx, row); out.Degraded {
		t.Fatalf("Update: %+v", out)
	}
	other, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := other.Finish(ctx, legRow("gcp", matrix.Pass, "")); out.Degraded {
		t.Fatalf("Finish of another leg: %+v", out)
	}
	got, _ := findRow(commentState(t, f).Rows, "aws")
	if got.Source != matrix.FromLeg {
		t.Errorf("aws row was rebuilt from its status: %+v", got)
	}
}

func TestStartLeavesTheCallersRowAlone(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	row := matrix.Row{Key: "aws"}
	row.Set(matrix.Preflight, matrix.Pass, "")
	r.Start(context.Background(), row)
	if len(row.Cells) != 1 || !row.UpdatedAt.IsZero() {
		t.Errorf("Start changed the caller's row: %+v", row)
	}
}

// A leg whose main step was killed after its host was ready: the post step
// abandons it. The status is error (not pending for good), the row keeps
// the settled preflight, its live cycle is ❌ and the rest ?, with the note.
func TestAbandonEndsAPendingLeg(t *testing.T) {
	f := newFake(t)
	leg, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	ctx := context.Background()
	leg.Start(ctx, matrix.Row{Key: "aws", Provider: "AWS"})
	progress := matrix.Row{Key: "aws", Provider: "AWS"}
	progress.Set(matrix.Preflight, matrix.Pass, "")
	progress.Set(matrix.LiveCycle, matrix.Pending, "running")
	progress.Set(matrix.SeccompProbe, matrix.Pending, "")
	if out := leg.Update(ctx, progress); out.Degraded {
		t.Fatalf("update: %+v", out)
	}

	post, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	const note = "main step ended without a result; torn down by the post step"
	out := post.Abandon(ctx, matrix.Row{Key: "aws"}, note)
	if out.Degraded || !out.StatusPosted || out.CommentURL == "" {
		t.Fatalf("outcome = %+v", out)
	}
	st, ok := latestStatus(f, sha1, "mvm-verify/aws")
	if !ok || st.State != "error" || !strings.Contains(st.Description, note) {
		t.Errorf("status = %+v, want error with the note", st)
	}
	row, _ := findRow(commentState(t, f).Rows, "aws")
	if row.Cell(matrix.Preflight).Status != matrix.Pass || row.Cell(matrix.LiveCycle).Status != matrix.Fail ||
		row.Cell(matrix.SeccompProbe).Status != matrix.Unknown || row.Notes != note || row.Provider != "AWS" {
		t.Errorf("row = %+v, want preflight ✅, live cycle ❌, seccomp ? and the note", row)
	}
}

// Start is done once a read shows its ⏳ row: it does not wait the quiet
// period, which would hold every leg's cycle back. Finish, whose row must
// not be lost, does.
func TestStartConfirmsOnceFinishWaitsQuiet(t *testing.T) {
	f := newFake(t)
	r, s := newReporter(t, f, prEvent(sha1), testToken, nil)
	ctx := context.Background()
	quietWaits := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, d := range s.all {
			if d == DefaultQuiet {
				n++
			}
		}
		return n
	}
	if out := r.Start(ctx, matrix.Row{Key: "aws"}); out.Degraded || out.CommentURL == "" {
		t.Fatalf("Start: %+v", out)
	}
	if row, ok := findRow(commentState(t, f).Rows, "aws"); !ok || !row.Has(matrix.Pending) {
		t.Fatalf("after Start the comment holds %+v (found %v), want the ⏳ row", row, ok)
	}
	if n := quietWaits(); n != 0 {
		t.Errorf("Start waited the quiet period %d times, want none", n)
	}
	if out := r.Finish(ctx, legRow("aws", matrix.Pass, "")); out.Degraded || out.CommentURL == "" {
		t.Fatalf("Finish: %+v", out)
	}
	if n := quietWaits(); n == 0 {
		t.Error("Finish did not wait the quiet period before trusting its row")
	}
}

// A row handed to Start with a cell still ? (not known yet, e.g. carried
// over from a template) shows ⏳ there: the leg is about to settle it.
func TestStartShowsUnknownCellsPending(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	row := matrix.Row{Key: "aws"}
	row.Set(matrix.Preflight, matrix.Pass, "")
	row.Set(matrix.LiveCycle, matrix.Unknown, "")
	if out := r.Start(context.Background(), row); out.Degraded || out.CommentURL == "" {
		t.Fatalf("Start outcome = %+v, want the row in the comment", out)
	}
	if body := markerComments(f)[0].Body; !strings.Contains(body, "| [AWS]("+runURL+") | ✅ | ⏳ | ⏳ |") {
		t.Errorf("comment does not show the ? cell as ⏳:\n%s", body)
	}
	if st, _ := latestStatus(f, sha1, "mvm-verify/aws"); st.State != "pending" {
		t.Errorf("status after Start = %q, want pending", st.State)
	}
	if row.Cell(matrix.LiveCycle).Status != matrix.Unknown {
		t.Errorf("Start changed the caller's cell to %s", row.Cell(matrix.LiveCycle).Status)
	}
}
