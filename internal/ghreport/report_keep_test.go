package ghreport

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// The seed's verified AWS row, the last verification the docs file holds.
const seedAWS = "| AWS | ✅ | ✅ verified 2026-05-06 | ✅ pass | $2.50 / 35 min, c5.metal |\n"

// addLegStatus posts row as key's final commit status on sha, as its leg
// would.
func addLegStatus(f *fakegh.Server, sha string, row matrix.Row) {
	f.AddStatus(testRepo, fakegh.Status{SHA: sha, State: StatusState(row), Description: Describe(row), Context: ContextPrefix + row.Key, TargetURL: runURL})
}

// An expected leg with no result this run (skipped for want of its
// provider's secrets, so it never reported) is ? in the matrix the report
// returns, but its row in the docs file, the last verification recorded,
// stays byte for byte, and the notice and the log say so. An expected leg
// the file has no row for yet gets the ? row there.
func TestReportKeepsTheDocsRowOfALegWithNoResult(t *testing.T) {
	f := newFake(t)
	addLegStatus(f, sha2, legRow("gcp", matrix.Fail, "on main"))
	docs := copySeed(t)
	var log bytes.Buffer
	r, _ := newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha2}, testToken, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	rows, out, err := r.Report(context.Background(), []string{"gcp", "aws", "qemu-tcg"}, docs)
	if err != nil || out.Degraded || !out.FileRewritten {
		t.Fatalf("Report: %v %+v", err, out)
	}
	if row, _ := findRow(rows, "aws"); row.Source != matrix.Placeholder || row.Cell(matrix.LiveCycle).Status != matrix.Unknown {
		t.Errorf("row aws = %+v, want ? in this run's matrix: it has no result for %s", row, matrix.ShortSHA(sha2))
	}

	seed := string(readSeed(t))
	want := strings.Replace(seed, "| GCP | ✅ | ✅ verified 2026-05-06 | ✅ pass | $0.10 / 25 min, n2-standard-4 |\n", "| GCP | ✅ | ❌ | ❌ | on main |\n", 1)
	want = strings.Replace(want, DocsEnd, "| QEMU (tcg) | ? | ? | ? | no result from this leg |\n"+DocsEnd, 1)
	want = strings.Replace(want, DocsStart+"\n", DocsStart+"\n"+rowsLine("gcp", "GCP", "aws", "AWS", "qemu-tcg", "QEMU (tcg)"), 1)
	got := readFileT(t, docs)
	if !strings.Contains(seed, seedAWS) || !strings.Contains(got, seedAWS) || got != want {
		t.Errorf("docs file:\n%s\nwant (AWS's verified row kept)\n%s", got, want)
	}
	const said = "kept the previous docs row for aws in "
	if !strings.Contains(out.Notice, said+docs+": no result this run") {
		t.Errorf("notice %q does not say the aws row was kept", out.Notice)
	}
	if strings.Contains(out.Notice, "qemu-tcg: no result") {
		t.Errorf("notice %q says qemu-tcg's row was kept, but the file had none", out.Notice)
	}
	if !strings.Contains(log.String(), "kept the previous rows") || !strings.Contains(log.String(), "aws") {
		t.Errorf("log does not name the kept row:\n%s", log.String())
	}

	// The next run: aws skipped again, the rows line now names its line.
	// The line stays byte for byte once more, and the file with it.
	before := got
	r, _ = newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha2}, testToken, nil)
	if _, out, err = r.Report(context.Background(), []string{"gcp", "aws", "qemu-tcg"}, docs); err != nil {
		t.Fatal(err)
	}
	if got := readFileT(t, docs); got != before {
		t.Errorf("a second run with aws skipped changed the file:\n%s\nwant\n%s", got, before)
	}

	// Then aws reports: its result replaces the kept row.
	addLegStatus(f, sha1, legRow("aws", matrix.Pass, "back"))
	addLegStatus(f, sha1, legRow("gcp", matrix.Pass, "fixed"))
	r, _ = newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha1}, testToken, nil)
	if _, out, err = r.Report(context.Background(), []string{"gcp", "aws"}, docs); err != nil || !out.FileRewritten {
		t.Fatalf("Report: %v %+v", err, out)
	}
	got = readFileT(t, docs)
	if strings.Contains(got, seedAWS) || !strings.Contains(got, " ✅ | back |\n") || strings.Contains(out.Notice, "kept the previous") {
		t.Errorf("aws reported, but its row was not rewritten (notice %q):\n%s", out.Notice, got)
	}
}

// On a PR, the comment and the summary are about this commit: the leg
// that never reported stays ? there (rows never vanish), while the docs
// file keeps its previous row. A leg whose only row is about an older push
// has no result this run either. A kept line is kept as written, however
// it is written (no outer pipes, spacing by hand, a CRLF).
func TestReportOnAPRKeepsTheDocsRowsOfLegsWithNoResultAsWritten(t *testing.T) {
	f := newFake(t)
	old := legRow("ovh", matrix.Pass, "from the older push")
	old.HeadSHA, old.Source, old.UpdatedAt = sha2, matrix.FromLeg, time.Now().Add(-time.Hour).UTC()
	body, err := CommentBody(matrix.State{HeadSHA: sha2, Rows: []matrix.Row{old}})
	if err != nil {
		t.Fatal(err)
	}
	f.AddComment(testRepo, testPR, actionsBot, body)
	leg, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	if out := leg.Finish(context.Background(), legRow("gcp", matrix.Pass, "ok")); out.Degraded {
		t.Fatal(out)
	}

	const (
		awsLine = "AWS|✅|✅ verified by hand |✅\r\n"
		ovhLine = "| OVH | ✅ | ✅ | ✅ | last month |\n"
	)
	content := "# Matrix\n\n" + DocsStart + "\n" + matrix.Header() + "| GCP | ❌ | ❌ | ❌ | old |\n" + awsLine + ovhLine + DocsEnd + "\ntail\n"
	docs := copyContent(t, content)
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	rows, out, err := r.Report(context.Background(), []string{"gcp", "aws", "ovh"}, docs)
	if err != nil || out.Degraded || !out.FileRewritten {
		t.Fatalf("Report: %v %+v", err, out)
	}
	for _, key := range []string{"aws", "ovh"} {
		if row, _ := findRow(rows, key); row.Source != matrix.Placeholder || row.Cell(matrix.LiveCycle).Status != matrix.Unknown {
			t.Errorf("row %s = %+v, want ? in the final matrix", key, row)
		}
		if row, ok := findRow(commentState(t, f).Rows, key); !ok || row.Cell(matrix.LiveCycle).Status != matrix.Unknown {
			t.Errorf("comment row %s = %+v (found %v), want ?", key, row, ok)
		}
	}
	gcp, _ := findRow(rows, "gcp")
	want := strings.Replace(content, "| GCP | ❌ | ❌ | ❌ | old |\n", gcp.Markdown(), 1)
	want = strings.Replace(want, DocsStart+"\n", DocsStart+"\n"+rowsLine("gcp", "GCP", "aws", "AWS", "ovh", "OVH"), 1)
	if got := readFileT(t, docs); got != want {
		t.Errorf("docs file:\n%q\nwant\n%q", got, want)
	}
	if !strings.Contains(out.Notice, "kept the previous docs rows for aws, ovh in "+docs+": no result this run") {
		t.Errorf("notice %q does not name the kept rows", out.Notice)
	}
}

// When no leg this run has news of has a result (all skipped), the file
// stays byte for byte as it was: there is nothing new to write, not even
// a rows line.
func TestReportWithOnlyKeptRowsLeavesTheDocsFile(t *testing.T) {
	f := newFake(t)
	f.AddStatus(testRepo, fakegh.Status{SHA: sha2, State: "success", Description: "not ours", Context: "ci/build"})
	docs := copySeed(t)
	r, _ := newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha2}, testToken, nil)
	rows, out, err := r.Report(context.Background(), []string{"aws", "gcp"}, docs)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFileT(t, docs); got != string(readSeed(t)) {
		t.Errorf("the docs file changed although no expected leg had a result:\n%s", got)
	}
	if out.FileRewritten || out.Degraded || !strings.Contains(out.Notice, "kept the previous docs rows for gcp, aws in "+docs) ||
		!strings.Contains(out.Notice, docs+" was left as it was") {
		t.Errorf("outcome = %+v, want not rewritten, and a notice naming the kept rows and the file left as it was", out)
	}
	if len(rows) != 2 {
		t.Errorf("rows = %+v, want a ? row for each expected leg", rows)
	}
}

func copyContent(t *testing.T, content string) string {
	t.Helper()
	path := t.TempDir() + "/verification-matrix.md"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
