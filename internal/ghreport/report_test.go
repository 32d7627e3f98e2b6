package ghreport

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	check("gcp", matrix.FromLeg, matrix.Pending) // started, never finished: stays ⏳
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
		"| GCP | ⏳ | ⏳ | ⏳ |  |",
		"| OVH | ✅ | ❌ | ❌ | quota: no bare metal in gra |",
		"| Azure | ? | ? | ? | no result from this leg |",
		"| Hetzner (no-kvm) | ? | ? | ? | no result from this leg |",
		"Bugs caught while verifying",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("docs file lacks %q:\n%s", want, got)
		}
	}
	seed := string(readSeed(t))
	if i := strings.Index(seed, DocsStart); !strings.HasPrefix(string(got), seed[:i]) {
		t.Error("docs file changed before the table")
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
	if err == nil || !strings.Contains(err.Error(), "matrix-file "+path) || !strings.Contains(err.Error(), DocsStart) {
		t.Errorf("error %v, want one naming the file and the marker", err)
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
