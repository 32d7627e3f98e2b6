package ghreport

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// The final comment lists its rows in the order Report returns them (the
// summary's, matrix.md's and matrix.json's): expect's keys first, in
// expect's order, then the rest in the seed's provider order; not Merge's
// provider order, which here would put gcp and aws before ovh.
func TestReportCommentInExpectOrder(t *testing.T) {
	f := newFake(t)
	reportFixture(t, f) // aws finished, gcp started, ovh and (below) vultr by status only
	vultr := legRow("vultr", matrix.Pass, "")
	f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: StatusState(vultr), Description: Describe(vultr),
		Context: ContextPrefix + "vultr", TargetURL: runURL})
	expected := []string{"ovh", "local", "aws", "gcp"}

	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	rows, out, err := r.Report(context.Background(), expected, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.Degraded || out.CommentURL == "" {
		t.Fatalf("outcome = %+v", out)
	}
	keys := func(rows []matrix.Row) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.Key)
		}
		return out
	}
	want := []string{"ovh", "local", "aws", "gcp", "vultr"}
	if got := keys(rows); !slices.Equal(got, want) {
		t.Fatalf("Report's rows %v, want %v", got, want)
	}
	if got := keys(commentState(t, f).Rows); !slices.Equal(got, want) {
		t.Errorf("the comment's state holds rows %v, want the summary's order %v", got, want)
	}
	// The table, as people read it: each row's Provider cell, in order.
	var shown []string
	for _, line := range strings.Split(markerComments(f)[0].Body, "\n") {
		for _, row := range rows {
			if strings.HasPrefix(line, "| "+row.Provider+" |") || strings.HasPrefix(line, "| ["+row.Provider+"](") {
				shown = append(shown, row.Key)
			}
		}
	}
	if !slices.Equal(shown, want) {
		t.Errorf("the comment's table shows rows %v, want %v:\n%s", shown, want, markerComments(f)[0].Body)
	}
}
