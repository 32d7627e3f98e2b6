package ghreport

import (
	"context"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// A table written by hand often links a provider to the run that verified
// it. Such a line is still that provider's: an expected leg with no result
// this run keeps it (and the notice says so) rather than getting a ? row
// below it, a later run with the rows line keeps it again, and once the
// leg reports its row replaces the line in place. Either way the file
// holds one AWS line.
func TestReportMatchesALinkedProviderCell(t *testing.T) {
	const awsLine = "| [AWS](https://github.com/o/r/actions/runs/9) | ✅ | ✅ verified 2026-05-06 | ✅ pass | by hand |\n"
	f := newFake(t)
	addLegStatus(f, sha2, legRow("gcp", matrix.Pass, "on main"))
	content := "# Matrix\n\n" + DocsStart + "\n" + matrix.Header() + awsLine + "| GCP | ❌ | ❌ | ❌ | old |\n" + DocsEnd + "\n"
	docs := copyContent(t, content)
	r, _ := newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha2}, testToken, nil)
	_, out, err := r.Report(context.Background(), []string{"aws", "gcp"}, docs)
	if err != nil || out.Degraded || !out.FileRewritten {
		t.Fatalf("Report: %v %+v", err, out)
	}
	// The GCP line is the leg's status's (its date is the clock's).
	want := "# Matrix\n\n" + DocsStart + "\n" + rowsLine("aws", "[AWS](https://github.com/o/r/actions/runs/9)", "gcp", "GCP") +
		matrix.Header() + awsLine + "| GCP | ✅ | "
	got := readFileT(t, docs)
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, " | on main |\n"+DocsEnd+"\n") || strings.Count(got, "\n| ") != 3 {
		t.Errorf("docs file:\n%s\nwant (the linked AWS line kept as aws's, then GCP's new row, and no other)\n%s…", got, want)
	}
	want = got
	if !strings.Contains(out.Notice, "kept the previous docs row for aws in "+docs) {
		t.Errorf("notice %q does not say the aws row was kept", out.Notice)
	}

	// Again with aws skipped: the rows line names the linked line, which
	// stays, and nothing else changes.
	r, _ = newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha2}, testToken, nil)
	if _, _, err := r.Report(context.Background(), []string{"aws", "gcp"}, docs); err != nil {
		t.Fatal(err)
	}
	if again := readFileT(t, docs); again != want {
		t.Errorf("the second run changed the file:\n%s\nwant\n%s", again, want)
	}

	// aws reports: its row takes the linked line's place.
	addLegStatus(f, sha1, legRow("aws", matrix.Pass, "back"))
	r, _ = newReporter(t, f, Event{Name: "push", Repo: testRepo, HeadSHA: sha1}, testToken, nil)
	if _, out, err = r.Report(context.Background(), []string{"aws"}, docs); err != nil || !out.FileRewritten {
		t.Fatalf("Report: %v %+v", err, out)
	}
	got = readFileT(t, docs)
	if strings.Contains(got, "by hand") || strings.Count(got, "AWS") != 2 || !strings.Contains(got, " ✅ | back |\n") {
		t.Errorf("aws reported, but its linked line was not replaced by its row (one AWS line, and the rows line):\n%s", got)
	}
}

// Without any run, the name passes read a link's text, and only a cell
// that is one link.
func TestLinkText(t *testing.T) {
	for cell, want := range map[string]string{
		"[AWS](https://github.com/o/r/actions/runs/9)": "AWS",
		"[ AWS (c8i) ](https://x/y)":                   "AWS (c8i)",
		`[A\]B](https://x)`:                            `A\]B`,
		"AWS":                                          "AWS",
		"[AWS]":                                        "[AWS]",
		"[a](x) and [b](y)":                            "[a](x) and [b](y)",
		"[a [b]](x)":                                   "[a [b]](x)",
		"[](x)":                                        "[](x)",
		`\[AWS\](x)`:                                   `\[AWS\](x)`,
	} {
		if got := linkText(cell); got != want {
			t.Errorf("linkText(%q) = %q, want %q", cell, got, want)
		}
	}
}
