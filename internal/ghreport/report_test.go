package ghreport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// reportFixture: aws finished (its own row), gcp started and never finished
// (killed), ovh only has a status (its comment row was lost), and azure and
// hetzner-no-kvm never reported at all.
func reportFixture(t *testing.T, f *fakegh.Server) {
	t.Helper()
	ctx := context.Background()
	aws, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := aws.Finish(ctx, legRow("aws", matrix.Pass, "$2.50 / 35 min, c8i.large")); out.Degraded {
		t.Fatal(out)
	}
	gcp, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := gcp.Start(ctx, matrix.Row{Key: "gcp"}); out.Degraded {
		t.Fatal(out)
	}
	ovh := legRow("ovh", matrix.Fail, "quota: no bare metal in gra")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: StatusState(ovh), Description: Describe(ovh), Context: ContextPrefix + "ovh", TargetURL: runURL})
}

func copySeed(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "verification-matrix.md")
	if err := os.WriteFile(path, readSeed(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReport(t *testing.T) {
	f := newFake(t)
	reportFixture(t, f)
	docs := copySeed(t)
	expected := []string{"hetzner-no-kvm", "gcp", "aws", "azure", "ovh"}

	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	rows, out, err := r.Report(context.Background(), expected, docs)
	if err != nil {
		t.Fatal(err)
	}
	if out.Degraded || out.CommentURL == "" || out.HeadSHA != sha1 {
		t.Fatalf("outcome = %+v", out)
	}
	var keys []string
	for _, row := range rows {
		keys = append(keys, row.Key)
	}
	if strings.Join(keys, ",") != strings.Join(expected, ",") {
		t.Fatalf("rows %v, want %v in that order", keys, expected)
	}
	check := func(key string, src matrix.Source, live matrix.Status) {
		t.Helper()
		row, _ := findRow(rows, key)
		if row.Source != src || row.Cell(matrix.LiveCycle).Status != live || row.HeadSHA != sha1 {
			t.Errorf("row %s = %+v, want source %q, live cycle %s", key, row, src, live)
		}
	}
	check("aws", matrix.FromLeg, matrix.Pass)
	// Started, never finished: report runs after every leg, so that leg
	// ended without a result and its row says so instead of staying ⏳.
	check("gcp", matrix.FromLeg, matrix.Unknown)
	if row, _ := findRow(rows, "gcp"); row.Notes != endedWithoutResult || row.Has(matrix.Pending) {
		t.Errorf("row gcp = %+v, want no ⏳ left and the note %q", row, endedWithoutResult)
	}
	check("ovh", matrix.FromStatus, matrix.Fail)
	check("azure", matrix.Placeholder, matrix.Unknown)
	check("hetzner-no-kvm", matrix.Placeholder, matrix.Unknown)

	st := commentState(t, f)
	if len(st.Rows) != len(expected) {
		t.Errorf("final comment holds %d rows, want %d", len(st.Rows), len(expected))
	}

	got, err := os.ReadFile(docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| AWS | ✅ | ✅ | ✅ | $2.50 / 35 min, c8i.large |",
		"| GCP | ? | ? | ? | leg ended without a final result |",
		"| OVH | ✅ | ❌ | ❌ | quota: no bare metal in gra |",
		"Bugs caught while verifying",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("docs file lacks %q:\n%s", want, got)
		}
	}
	// The rows this run has results for are rewritten in their places;
	// the seed's rows of legs this run knows nothing of (Vultr,
	// Latitude.sh, Equinix Metal) stay byte for byte where they were. So
	// do the rows of the expected legs with no result this run (Azure,
	// and Hetzner, the no-KVM lane's row: hetzner-no-kvm): the file keeps
	// the last result they recorded, and the notice says so. The rows
	// line, new, lists the legs whose lines are now known, kept ones too.
	seed := string(readSeed(t))
	want := seed
	for old, new := range map[string]string{
		DocsStart + "\n": DocsStart + "\n" + rowsLine("hetzner-no-kvm", "Hetzner", "gcp", "GCP", "aws", "AWS", "azure", "Azure", "ovh", "OVH"),
		"| GCP | ✅ | ✅ verified 2026-05-06 | ✅ pass | $0.10 / 25 min, n2-standard-4 |\n": "| GCP | ? | ? | ? | leg ended without a final result |\n",
		"| AWS | ✅ | ✅ verified 2026-05-06 | ✅ pass | $2.50 / 35 min, c5.metal |\n":      "| AWS | ✅ | ✅ | ✅ | $2.50 / 35 min, c8i.large |\n",
		"| OVH | ❌ | ⏳ pending | ? | Needs three OVH_* env vars |\n":                     "| OVH | ✅ | ❌ | ❌ | quota: no bare metal in gra |\n",
	} {
		if !strings.Contains(want, old) {
			t.Fatalf("seed lacks %q", old)
		}
		want = strings.Replace(want, old, new, 1)
	}
	if string(got) != want {
		t.Errorf("docs file:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(out.Notice, "kept the previous docs rows for hetzner-no-kvm, azure in "+docs+": no result this run") {
		t.Errorf("notice %q does not name the rows kept in the docs file", out.Notice)
	}
	if i := strings.Index(seed, DocsStart); !strings.HasPrefix(string(got), seed[:i]) {
		t.Error("docs file changed before the table")
	}
	if n := strings.Count(string(got), "| Hetzner"); n != 1 {
		t.Errorf("%d rows for the hetzner-no-kvm lane, want 1", n)
	}
	if i := strings.Index(seed, DocsEnd); !strings.HasSuffix(string(got), seed[i:]) {
		t.Error("docs file changed after the table")
	}
	checkRendering(t, Summary(rows, out.HeadSHA), false)
}

func TestReportDocsFileWithoutMarkers(t *testing.T) {
	f := newFake(t)
	path := filepath.Join(t.TempDir(), "plain.md")
	if err := os.WriteFile(path, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	rows, _, err := r.Report(context.Background(), []string{"aws"}, path)
	var in *InputError
	want := fmt.Sprintf("input \"matrix-file\": got %q, expected %s (", path, matrix.DocsFileForm)
	if !errors.As(err, &in) || in.Input != "matrix-file" || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want an *InputError starting %q", err, want)
	}
	if len(rows) != 1 {
		t.Errorf("rows %v, want the matrix even when the docs file fails", rows)
	}
	if b, _ := os.ReadFile(path); string(b) != "# no markers\n" {
		t.Errorf("file without markers was changed: %q", b)
	}
}

func TestReportOnPushUsesStatuses(t *testing.T) {
	f := newFake(t)
	row := legRow("aws", matrix.Pass, "on main")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha2, State: "success", Description: Describe(row), Context: ContextPrefix + "aws"})
	f.AddStatus(testRepo, fakegh.Status{SHA: sha2, State: "success", Description: "not ours", Context: "ci/build"})
	r, _ := newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha2}, testToken, nil)
	rows, out, err := r.Report(context.Background(), []string{"aws", "gcp"}, "")
	if err != nil || out.Degraded {
		t.Fatalf("Report: %v %+v", err, out)
	}
	if len(rows) != 2 || rows[0].Key != "aws" || rows[0].Cell(matrix.SeccompProbe).Status != matrix.Pass || rows[1].Source != matrix.Placeholder {
		t.Errorf("rows = %+v", rows)
	}
	if n := len(f.Comments(testRepo, testPR)); n != 0 {
		t.Errorf("push report wrote %d comments", n)
	}
}

// On push (the docs job) the statuses are all there is. A run whose legs
// reported some rows rewrites those and the expected ones; every other row
// of the file stays as it was.
func TestReportOnPushKeepsTheDocsRowsItHasNoNewsOf(t *testing.T) {
	f := newFake(t)
	row := legRow("aws", matrix.Fail, "on main")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha2, State: StatusState(row), Description: Describe(row), Context: ContextPrefix + "aws"})
	docs := copySeed(t)
	r, _ := newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha2}, testToken, nil)
	_, out, err := r.Report(context.Background(), []string{"aws", "ovh"}, docs)
	if err != nil || out.Degraded || !out.FileRewritten {
		t.Fatalf("Report: %v %+v", err, out)
	}
	want := strings.Replace(string(readSeed(t)), "| AWS | ✅ | ✅ verified 2026-05-06 | ✅ pass | $2.50 / 35 min, c5.metal |\n", "| AWS | ✅ | ❌ | ❌ | on main |\n", 1)
	// ovh, expected, has no result: its row stays as it was.
	want = strings.Replace(want, DocsStart+"\n", DocsStart+"\n"+rowsLine("aws", "AWS", "ovh", "OVH"), 1)
	if got := readFileT(t, docs); got != want {
		t.Errorf("docs file:\n%s\nwant\n%s", got, want)
	}
}

// A push whose legs all failed before reporting, with no expect: the
// report learned nothing about the commit, so the docs file stays byte for
// byte as it was (the docs job runs on !cancelled() and would commit an
// empty table) and the notice says so.
func TestReportWithNoNewsKeepsTheDocsFile(t *testing.T) {
	f := newFake(t)
	f.AddStatus(testRepo, fakegh.Status{SHA: sha2, State: "success", Description: "not ours", Context: "ci/build"})
	// A leg's status on another commit is no news of this one.
	row := legRow("aws", matrix.Pass, "on the parent")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: StatusState(row), Description: Describe(row), Context: ContextPrefix + "aws"})
	docs := copySeed(t)
	r, _ := newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha2}, testToken, nil)
	rows, out, err := r.Report(context.Background(), nil, docs)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFileT(t, docs); got != string(readSeed(t)) {
		t.Errorf("the docs file changed although no leg reported for the commit:\n%s", got)
	}
	if out.FileRewritten || !strings.Contains(out.Notice, "no leg reported for 2222222") || !strings.Contains(out.Notice, docs+" was left as it was") {
		t.Errorf("outcome = %+v, want not rewritten and a notice naming the commit and the file", out)
	}
	if len(rows) != 0 {
		t.Errorf("rows = %+v, want none", rows)
	}
}

func TestReportForForkReadsButDoesNotWrite(t *testing.T) {
	f := newFake(t)
	reportFixture(t, f)
	before := markerComments(f)[0].Body
	seen := len(f.Requests())
	ev := prEvent(sha1)
	ev.HeadRepo = "mallory/widgets"
	r, _ := newReporter(t, f, ev, testToken, nil)
	rows, out, err := r.Report(context.Background(), []string{"aws", "ovh", "azure"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !out.Degraded || !strings.Contains(out.Notice, "fork") {
		t.Errorf("outcome = %+v, want degraded with a fork notice", out)
	}
	if len(rows) != 4 { // aws, gcp (seen in the comment), ovh, azure
		t.Errorf("rows = %d, want 4", len(rows))
	}
	if after := markerComments(f)[0].Body; after != before {
		t.Error("a fork report changed the comment")
	}
	for _, req := range f.Requests()[seen:] {
		if req.Method != "GET" {
			t.Errorf("fork report wrote: %s %s", req.Method, req.Path)
		}
	}
}

func TestReportWithoutToken(t *testing.T) {
	f := newFake(t)
	r, _ := newReporter(t, f, prEvent(sha1), "", nil)
	rows, out, err := r.Report(context.Background(), []string{"aws"}, "")
	if err != nil || !out.Degraded || len(rows) != 1 || rows[0].Source != matrix.Placeholder {
		t.Errorf("Report without token: rows %+v, out %+v, err %v", rows, out, err)
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests without a token", n)
	}
}

// A report that learned nothing from GitHub leaves the docs file byte for
// byte as it was: a table of nothing but ? would erase what it knows, and
// the docs job would commit that.
func TestReportThatLearnedNothingKeepsTheDocsFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		fault *fakegh.Fault
		ev    Event
	}{
		{name: "bad token", token: "ghs_not_a_token"},
		{name: "no token", token: ""},
		{name: "persistent 502", token: testToken, fault: &fakegh.Fault{Method: "GET", Status: 502, Times: 100}},
		{name: "rate limited past the budget", token: testToken, fault: &fakegh.Fault{Method: "GET", Status: 429, RetryAfter: time.Hour, Times: 100}},
		{name: "no commit on push", token: testToken, ev: Event{Name: "push", Repo: testRepo}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			reportFixture(t, f)
			if tc.fault != nil {
				f.Inject(*tc.fault)
			}
			docs := copySeed(t)
			ev := tc.ev
			if ev.Repo == "" {
				ev = prEvent(sha1)
			}
			r, _ := newReporter(t, f, ev, tc.token, nil)
			rows, out, err := r.Report(context.Background(), []string{"aws", "gcp"}, docs)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFileT(t, docs); got != string(readSeed(t)) {
				t.Errorf("the docs file changed although nothing was read from GitHub:\n%s", got)
			}
			if out.FileRewritten || !out.Degraded || !strings.Contains(out.Notice, docs+" was left as it was") {
				t.Errorf("outcome = %+v, want degraded, not rewritten, and a notice naming the file", out)
			}
			if len(rows) != 2 {
				t.Errorf("rows = %+v, want the expected rows for the summary", rows)
			}
		})
	}
}

// pull-request without head-sha (outside Actions): the head is the PR's.
func TestReportPullRequestWithoutHeadReadsThePRHead(t *testing.T) {
	f := newFake(t)
	reportFixture(t, f)
	docs := copySeed(t)
	ev := Event{Repo: testRepo, PR: testPR}
	r, _ := newReporter(t, f, ev, testToken, nil)
	rows, out, err := r.Report(context.Background(), []string{"aws", "gcp"}, docs)
	if err != nil {
		t.Fatal(err)
	}
	if out.HeadSHA != sha1 || out.Degraded || !out.FileRewritten || out.CommentURL == "" {
		t.Fatalf("outcome = %+v, want the matrix of the PR's head %s, the comment and the file written", out, sha1)
	}
	if row, _ := findRow(rows, "aws"); row.Cell(matrix.LiveCycle).Status != matrix.Pass {
		t.Errorf("aws = %+v, want the leg's result", row)
	}
	if !strings.Contains(readFileT(t, docs), "| AWS | ✅ | ✅ | ✅ |") {
		t.Error("docs file lacks the aws result")
	}
}

// head-sha given and not the PR's head: the given commit is reported (from
// its statuses), with a notice, and the comment, which follows the PR's
// head, is left alone.
func TestReportPinnedHeadOtherThanThePRs(t *testing.T) {
	f := newFake(t)
	reportFixture(t, f) // about sha1, the PR's head
	before := markerComments(f)[0].Body
	row := legRow("aws", matrix.Fail, "on the older push")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha2, State: StatusState(row), Description: Describe(row), Context: ContextPrefix + "aws"})
	r, _ := newReporter(t, f, prEvent(sha2), testToken, func(c *Config) { c.PinHead = true })
	rows, out, err := r.Report(context.Background(), []string{"aws"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.HeadSHA != sha2 || !strings.Contains(out.Notice, "head-sha 2222222 is not the head of pull request #7 (1111111)") {
		t.Errorf("outcome = %+v, want the given head and a notice naming both", out)
	}
	if len(rows) != 1 || rows[0].Cell(matrix.LiveCycle).Status != matrix.Fail || rows[0].HeadSHA != sha2 {
		t.Errorf("rows = %+v, want aws failed on %s", rows, sha2)
	}
	if after := markerComments(f)[0].Body; after != before {
		t.Error("the comment, about the PR's head, was rewritten for another commit")
	}

	// Not pinned (head from the event), the report is still the event's
	// commit's: the run's legs reported that one.
	r, _ = newReporter(t, f, prEvent(sha2), testToken, nil)
	if _, out, _ := r.Report(context.Background(), []string{"aws"}, ""); out.HeadSHA != sha2 || !strings.Contains(out.Notice, "moved on to 1111111") {
		t.Errorf("unpinned report: %+v, want it about the event's commit %s with a notice", out, sha2)
	}
	if after := markerComments(f)[0].Body; after != before {
		t.Error("the comment, about the PR's head, was rewritten for another commit")
	}
}

// A push while a run is going: the older run's report (its event's head is
// sha1, the PR's head is now sha2) reports sha1 from its statuses, with one
// notice, and leaves the comment alone. It must not follow the PR to sha2
// and turn the ⏳ of sha2's still running legs into "ended without a final
// result": it runs after its own legs only. sha2's leg then finishes as
// usual.
func TestReportFromAnOlderRunLeavesTheNewerPushAlone(t *testing.T) {
	ctx := context.Background()
	f := newFake(t) // PR head sha1
	old, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := old.Finish(ctx, legRow("aws", matrix.Pass, "on the older push")); out.Degraded {
		t.Fatal(out)
	}
	killed, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := killed.Start(ctx, matrix.Row{Key: "gcp"}); out.Degraded {
		t.Fatal(out)
	}

	f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
	running, _ := newReporter(t, f, prEvent(sha2), testToken, nil)
	if out := running.Start(ctx, matrix.Row{Key: "aws"}); out.Degraded || out.CommentURL == "" {
		t.Fatalf("sha2 leg Start: %+v", out)
	}
	before := markerComments(f)[0].Body
	seen := len(f.Requests())

	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	rows, out, err := r.Report(ctx, []string{"aws", "gcp"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.HeadSHA != sha1 || out.Degraded || out.CommentURL != "" {
		t.Errorf("outcome = %+v, want the matrix of the run's commit %s, not degraded, no comment", out, sha1)
	}
	if want := "pull request #7 moved on to 2222222 since this run's commit 1111111"; !strings.Contains(out.Notice, want) || strings.Count(out.Notice, ";") != 0 {
		t.Errorf("notice %q, want the one line %q", out.Notice, want)
	}
	if aws, _ := findRow(rows, "aws"); aws.HeadSHA != sha1 || aws.Cell(matrix.LiveCycle).Status != matrix.Pass {
		t.Errorf("aws = %+v, want sha1's pass", aws)
	}
	// gcp's leg of this run started and never finished: it did end.
	if gcp, _ := findRow(rows, "gcp"); gcp.HeadSHA != sha1 || gcp.Has(matrix.Pending) || !strings.Contains(gcp.Notes, endedWithoutResult) {
		t.Errorf("gcp = %+v, want sha1's leg ended without a result", gcp)
	}
	if after := markerComments(f)[0].Body; after != before {
		t.Errorf("the older run's report rewrote the newer push's comment:\n%s", after)
	}
	for _, req := range f.Requests()[seen:] {
		if req.Method != "GET" {
			t.Errorf("the older run's report wrote: %s %s", req.Method, req.Path)
		}
	}
	if st, _ := latestStatus(f, sha2, ContextPrefix+"aws"); st.State != "pending" {
		t.Errorf("sha2's aws status = %+v, want still pending", st)
	}
	if row, _ := findRow(commentState(t, f).Rows, "aws"); row.HeadSHA != sha2 || !row.Has(matrix.Pending) || strings.Contains(row.Notes, endedWithoutResult) {
		t.Errorf("sha2's aws row = %+v, want still ⏳", row)
	}

	if out := running.Finish(ctx, legRow("aws", matrix.Pass, "on the newer push")); out.Degraded || out.CommentURL == "" {
		t.Fatalf("sha2 leg Finish: %+v", out)
	}
	if st, _ := latestStatus(f, sha2, ContextPrefix+"aws"); st.State != "success" {
		t.Errorf("sha2's aws status = %+v, want success", st)
	}
	st := commentState(t, f)
	if st.HeadSHA != sha2 {
		t.Errorf("comment is about %s, want %s", st.HeadSHA, sha2)
	}
	if row, _ := findRow(st.Rows, "aws"); row.HeadSHA != sha2 || row.Cell(matrix.LiveCycle).Status != matrix.Pass || row.Notes != "on the newer push" {
		t.Errorf("sha2's aws row after Finish = %+v, want its pass", row)
	}
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A row in the comment about an older push is no result for head, even when
// its verdict is the same as the leg's status on head: the status (the leg
// posted it for head, and its comment write was lost) is the news, so the
// row is rebuilt from it for head instead of becoming ? for head.
func TestReportRebuildsAnOlderCommitsRowFromHeadsStatus(t *testing.T) {
	f := newFake(t)
	old := legRow("aws", matrix.Pass, "from the older push")
	old.HeadSHA, old.Source, old.UpdatedAt = sha2, matrix.FromLeg, time.Now().Add(-time.Hour).UTC()
	body, err := CommentBody(matrix.State{HeadSHA: sha2, Rows: []matrix.Row{old}})
	if err != nil {
		t.Fatal(err)
	}
	f.AddComment(testRepo, testPR, actionsBot, body)
	head := legRow("aws", matrix.Pass, "from head")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: StatusState(head), Description: Describe(head), Context: ContextPrefix + "aws", TargetURL: runURL})

	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	rows, out, err := r.Report(context.Background(), []string{"aws"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.Degraded || out.HeadSHA != sha1 {
		t.Fatalf("outcome = %+v", out)
	}
	row, ok := findRow(rows, "aws")
	if !ok || row.HeadSHA != sha1 || row.Source != matrix.FromStatus || row.Cell(matrix.LiveCycle).Status != matrix.Pass ||
		!strings.Contains(row.Notes, "from head") {
		t.Errorf("row aws = %+v (found %v), want head's status: ✅ for %s, %q", row, ok, matrix.ShortSHA(sha1), "from head")
	}
	st := commentState(t, f)
	if got, _ := findRow(st.Rows, "aws"); st.HeadSHA != sha1 || got.HeadSHA != sha1 || got.Cell(matrix.LiveCycle).Status != matrix.Pass {
		t.Errorf("comment state = %+v, want aws ✅ for %s", st, matrix.ShortSHA(sha1))
	}
}
