package ghreport

import (
	"context"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// Without expected keys a leg that never reported has no row at all, and
// nothing else would say so: Report's notice names the input. With them the
// leg is a ? row and there is no such notice.
func TestReportWithoutExpectSaysLegsMayBeMissing(t *testing.T) {
	for _, c := range []struct {
		name   string
		expect []string
		notice bool
	}{
		{"no expect", nil, true},
		{"only empty keys", []string{""}, true},
		{"expect", []string{"aws", "gcp"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			row := legRow("aws", matrix.Pass, "done")
			f.AddStatus(testRepo, fakegh.Status{SHA: sha1, State: StatusState(row), Description: Describe(row), Context: ContextPrefix + "aws"})
			r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
			rows, out, err := r.Report(context.Background(), c.expect, "")
			if err != nil || out.Degraded {
				t.Fatalf("Report: %v %+v", err, out)
			}
			if _, ok := findRow(rows, "aws"); !ok {
				t.Errorf("rows %+v lack the leg that reported", rows)
			}
			got := strings.Count(out.Notice, NoExpectNotice)
			if c.notice && (got != 1 || !strings.Contains(out.Notice, "input expect")) {
				t.Errorf("notice %q, want once the one naming the input expect", out.Notice)
			}
			if !c.notice && got != 0 {
				t.Errorf("notice %q although expect names the legs", out.Notice)
			}
		})
	}
}
