package ghreport

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// Notes longer than the table shows are cut in the comment's table (with
// the mark saying where the whole text is), but the hidden state keeps
// them whole while the comment has room: the report job, which builds its
// summary, matrix.json and docs table from that state, then has them
// whole too.
func TestCommentStateKeepsNotesWholeWhenTheyFit(t *testing.T) {
	long := "seccomp_apply: " + strings.Repeat("assertion failed | at line 7; ", 120) // about 3,600 characters
	aws := legRow("aws", matrix.Fail, long)
	aws.HeadSHA = sha1
	gcp := legRow("gcp", matrix.Pass, "$0.10 / 25 min")
	gcp.HeadSHA = sha1
	body, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: []matrix.Row{aws, gcp}})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := matrix.DecodeState(body)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := findRow(st.Rows, "aws")
	if !ok || got.Notes != long {
		t.Errorf("state notes of aws: %d characters, want the whole %d", utf8.RuneCountInString(got.Notes), utf8.RuneCountInString(long))
	}
	// The table shows the start, cut with the mark, pipes escaped.
	_, rest, _ := strings.Cut(body, Marker+"\n")
	table, _, _ := strings.Cut(rest, "<!--") // the hidden state follows the table
	if !strings.Contains(table, `seccomp_apply: assertion failed \| at line 7;`) || strings.Count(table, cutMark) != 1 ||
		strings.Contains(table, strings.Repeat("assertion failed \\| at line 7; ", 20)) {
		t.Errorf("comment table does not show aws's notes cut once with the mark:\n%s", table)
	}
	checkRendering(t, body, true)
	if summary := Summary(st.Rows, sha1); strings.Contains(summary, cutMark) {
		t.Errorf("summary from the state cuts notes the state holds whole:\n%s", summary)
	}
}
