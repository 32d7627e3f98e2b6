package ghreport

import (
	"bytes"
	"flag"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// hostileRows carry what step output can contain: pipes, HTML, comment
// terminators, mentions, newlines, an untrusted link, values quoted in
// backticks, issue and commit references, shell variables that would pair
// as math, and entities that would read as any of these.
func hostileRows() []matrix.Row {
	at := time.Date(2026, 5, 6, 14, 3, 0, 0, time.UTC)
	rows := seedRows()
	for i := range rows {
		rows[i].HeadSHA, rows[i].UpdatedAt, rows[i].JobURL = sha1, at, runURL
	}
	rows[1].Notes = "cargo: a|b <script>alert(1)</script> --> <!-- mvm-verify:state v1 AAAA --> @octocat\nnext line"
	rows[1].JobURL = "javascript:alert(1)"
	rows[2].Provider = "AWS | evil"
	rows[2].Set(matrix.LiveCycle, matrix.Fail, "<img src=x onerror=alert(1)>")
	rows[3].HeadSHA = sha2 // an older push's row
	rows[4].Set(matrix.LiveCycle, matrix.Pending, "")
	rows[4].Notes = "![pixel](https://evil.example/p.png) [click](https://evil.example) see www.evil.example"
	rows[5].Notes = "first failure: got `<nil>` from `C:\\x` (`https://evil.example`, @octocat) ``a`b``"
	rows[6].Notes = "fixes #12, acme/widgets#7, GH-3 and gh-4 at octo/repo@0123abc; $HOME and $PATH, $$x^2$$; &#64;octocat &#35;5 &commat;x"
	rows[7].Set(matrix.LiveCycle, matrix.Pending, "unset $VAR in $(cmd) step #2")
	return rows
}

// checkRendering holds markdown to GitHub's rules for tables built from
// untrusted text: every table line has exactly the 6 unescaped pipes of 5
// cells, and no line outside our own markers carries raw HTML (but for a
// dollar sign's span), an issue reference, math or a mention. References,
// mentions and math GitHub finds in the rendered text (seen), after
// escapes and entities are read.
func checkRendering(t *testing.T, md string, mentionsNotify bool) {
	t.Helper()
	mention := regexp.MustCompile(`(^|[^\w])@[A-Za-z0-9]`)
	issueRef := regexp.MustCompile(`#[0-9]|(?i)(^|[^a-z0-9])gh-[0-9]`)
	for _, line := range strings.Split(md, "\n") {
		own := line == Marker || strings.HasPrefix(line, "<!-- mvm-verify:state v1 ") || line == DocsStart || line == DocsEnd ||
			strings.HasPrefix(line, matrix.DocsRows+" ") && strings.HasSuffix(line, " -->") && strings.Count(line, "-->") == 1 && strings.Count(line, "<") == 1
		if own {
			continue
		}
		if strings.HasPrefix(line, "|") {
			// Count pipes not preceded by an odd number of backslashes.
			n := 0
			for i := 0; i < len(line); i++ {
				if line[i] == '\\' {
					i++
					continue
				}
				if line[i] == '|' {
					n++
				}
			}
			if n != 6 {
				t.Errorf("table line has %d cell separators, want 6: %s", n, line)
			}
			// A code span would show the escapes in it literally.
			if unescapedByte(line, '`') {
				t.Errorf("an unescaped backtick in a table line could open a code span: %s", line)
			}
		}
		if strings.ContainsAny(strings.ReplaceAll(line, dollarSpan, ""), "<>") {
			t.Errorf("raw HTML in rendered markdown: %s", line)
		}
		// Math pairs dollar signs within a cell's text (or a line's, off
		// the table), split where a span holds one.
		spans := []string{line}
		if cells, ok := matrix.TableCells(line); ok {
			spans = cells
		}
		for _, span := range spans {
			dollars := 0
			for _, text := range seen(span) {
				dollars += strings.Count(text, "$")
				if issueRef.MatchString(text) {
					t.Errorf("an issue reference in rendered markdown would show in the issue's timeline: %q in %s", text, line)
				}
				if mentionsNotify && mention.MatchString(text) {
					t.Errorf("a mention in rendered markdown would notify someone: %q in %s", text, line)
				}
			}
			if dollars > 1 {
				t.Errorf("%d dollar signs in one cell's text could render as math: %s", dollars, line)
			}
		}
		if unescaped(line, "![") || unescaped(line, "](https://evil") || unescaped(line, "://evil") || strings.Contains(line, "www.evil") {
			t.Errorf("an image, link or autolink from untrusted text in rendered markdown: %s", line)
		}
	}
}

// dollarSpan is how Escape writes a dollar sign that could pair as math.
const dollarSpan = "<span>$</span>"

// seen is markdown text as GitHub's mention, reference and math finders
// see it: backslash escapes and entities read, in pieces split where a
// span holds a dollar sign (each piece is a text node of its own).
func seen(md string) []string {
	var pieces []string
	for _, p := range strings.Split(md, dollarSpan) {
		var b strings.Builder
		for i := 0; i < len(p); i++ {
			if p[i] == '\\' && i+1 < len(p) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", p[i+1]) >= 0 {
				i++
			}
			b.WriteByte(p[i])
		}
		pieces = append(pieces, html.UnescapeString(b.String()))
	}
	return pieces
}

// unescapedByte reports whether c occurs in line after an even number of
// backslashes (none included), so markdown reads it as itself.
func unescapedByte(line string, c byte) bool {
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if line[i] == c {
			return true
		}
	}
	return false
}

// unescaped reports whether s occurs in line without a backslash before it.
func unescaped(line, s string) bool {
	for i := 0; ; {
		j := strings.Index(line[i:], s)
		if j < 0 {
			return false
		}
		if at := i + j; at == 0 || line[at-1] != '\\' {
			return true
		}
		i += j + 1
	}
}

func TestCommentGolden(t *testing.T) {
	st := matrix.State{HeadSHA: sha1, Rows: hostileRows()}
	body, err := CommentBody(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body, Marker+"\n") {
		t.Error("comment does not start with the marker")
	}
	checkRendering(t, body, true)
	got, found, err := matrix.DecodeState(body)
	if err != nil || !found || len(got.Rows) != len(st.Rows) || got.HeadSHA != sha1 {
		t.Fatalf("state does not round-trip: found=%v err=%v rows=%d", found, err, len(got.Rows))
	}
	if got.Rows[1].Notes != st.Rows[1].Notes {
		t.Errorf("state changed the notes: %q", got.Rows[1].Notes)
	}
	checkGolden(t, "comment.golden.md", []byte(body))
}

func TestSummaryGolden(t *testing.T) {
	rows := hostileRows()
	rows[0].Notes = strings.Repeat("long note ", 100)
	md := Summary(rows, sha1)
	// A job summary notifies no one; mentions may stay.
	checkRendering(t, md, false)
	if !strings.Contains(md, strings.TrimSpace(rows[0].Notes)) {
		t.Error("the summary cut a note; it must carry them whole")
	}
	checkGolden(t, "summary.golden.md", []byte(md))
}

func TestDocsTableGolden(t *testing.T) {
	content := []byte("# Matrix\n\n" + DocsStart + "\n" + DocsEnd + "\n\nAfter.\n")
	got, err := RewriteDocsTable(content, hostileRows())
	if err != nil {
		t.Fatal(err)
	}
	// Mentions in a committed file notify no one.
	checkRendering(t, string(got), false)
	checkGolden(t, "docs.golden.md", got)
}

func TestCommentCutsNotesToFit(t *testing.T) {
	var rows []matrix.Row
	for _, key := range []string{"aws", "gcp", "azure", "ovh", "vultr", "equinix", "latitude", "hetzner"} {
		r := legRow(key, matrix.Fail, strings.Repeat("é|", 20000))
		r.HeadSHA = sha1
		rows = append(rows, r)
	}
	body, err := CommentBody(matrix.State{HeadSHA: sha1, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(body)); n > 65536 {
		t.Fatalf("comment has %d characters, over GitHub's 65536", n)
	}
	checkRendering(t, body, true)
	st, _, err := matrix.DecodeState(body)
	if err != nil || len(st.Rows) != len(rows) {
		t.Fatalf("rows lost while cutting: %v, %d rows", err, len(st.Rows))
	}
}

func TestDescribeRoundTrips(t *testing.T) {
	for _, r := range hostileRows() {
		st := remoteStatus{Key: r.Key, State: StatusState(r), Description: Describe(r)}
		got := rowFromStatus(st, sha1)
		for _, c := range matrix.Columns() {
			if got.Cell(c).Status != r.Cell(c).Status {
				t.Errorf("%s %s: %s rebuilt as %s from %q", r.Key, c, r.Cell(c).Status, got.Cell(c).Status, st.Description)
			}
		}
		if len([]rune(st.Description)) >= 140 {
			t.Errorf("%s: description of %d characters", r.Key, len([]rune(st.Description)))
		}
	}
	// A verified leg's cell reads as the hand-kept table's did, dated by
	// its status.
	verified := legRow("aws", matrix.Pass, "")
	at := time.Date(2026, 5, 6, 23, 30, 0, 0, time.FixedZone("x", -3600))
	got := rowFromStatus(remoteStatus{Key: "aws", State: StatusState(verified), Description: Describe(verified), UpdatedAt: at}, sha1)
	if c := got.Cell(matrix.LiveCycle); c.Status != matrix.Pass || c.Text != "verified 2026-05-07" {
		t.Errorf("verified leg's live cycle rebuilt as %+v, want pass \"verified 2026-05-07\"", c)
	}
	// East of UTC the local date is a day ahead of UTC's.
	east := time.Date(2026, 5, 7, 0, 30, 0, 0, time.FixedZone("y", 2*3600))
	got = rowFromStatus(remoteStatus{Key: "aws", State: StatusState(verified), Description: Describe(verified), UpdatedAt: east}, sha1)
	if c := got.Cell(matrix.LiveCycle); c.Status != matrix.Pass || c.Text != "verified 2026-05-06" {
		t.Errorf("verified leg's live cycle rebuilt as %+v, want pass \"verified 2026-05-06\" (the UTC date)", c)
	}
	// Only a success status dates the cell: a failed or pending leg whose
	// live cycle passed was not verified, whatever its description says.
	for _, state := range []string{"failure", "pending", "error"} {
		row := legRow("aws", matrix.Pass, "")
		row.Set(matrix.SeccompProbe, matrix.Fail, "")
		st := remoteStatus{Key: "aws", State: state, Description: Describe(row), UpdatedAt: at}
		if !strings.Contains(st.Description, "✅ "+string(matrix.LiveCycle)) {
			t.Fatalf("description %q has no passed live cycle to test with", st.Description)
		}
		c := rowFromStatus(st, sha1).Cell(matrix.LiveCycle)
		if c.Status != matrix.Pass || strings.Contains(c.Text, "verified") {
			t.Errorf("%s status's live cycle rebuilt as %+v, want pass without \"verified\"", state, c)
		}
	}
	foreign := rowFromStatus(remoteStatus{Key: "aws", State: "failure", Description: "something else"}, sha1)
	if foreign.Cell(matrix.LiveCycle).Status != matrix.Fail || foreign.Notes != "something else" {
		t.Errorf("foreign description rebuilt as %+v", foreign)
	}
}

func TestDescribeCountsUTF16(t *testing.T) {
	r := legRow("aws", matrix.Fail, strings.Repeat("🚀", 200))
	d := Describe(r)
	if n := len(utf16.Encode([]rune(d))); n > 139 {
		t.Errorf("description is %d UTF-16 units: %q", n, d)
	}
	if !strings.Contains(d, "🚀") {
		t.Errorf("notes dropped entirely: %q", d)
	}
}

// A cut note ends in the mark saying where the whole text is, fits its
// limit, and a note cut before (from an earlier write's state) is cut again
// from its text rather than getting a second mark.
func TestCutNotesMarksWhereTheWholeTextIs(t *testing.T) {
	long := strings.Repeat("x", 500)
	once := cutNotes(long, 200)
	if !strings.HasSuffix(once, cutMark) || utf8.RuneCountInString(once) > 200 || !strings.HasPrefix(once, "xxxx") {
		t.Fatalf("cutNotes(500 x, 200) = %q, want at most 200 characters ending in %q", once, cutMark)
	}
	twice := cutNotes(once, 60)
	if strings.Count(twice, cutMark) != 1 || utf8.RuneCountInString(twice) > 60 || !strings.HasPrefix(twice, "x") {
		t.Errorf("cutNotes(cut note, 60) = %q, want one mark within 60 characters", twice)
	}
	if got := cutNotes(once, 200); got != once {
		t.Errorf("a cut note that fits was changed: %q", got)
	}
	if got := cutNotes(long, 10); got != strings.Repeat("x", 9)+"…" {
		t.Errorf("cutNotes(500 x, 10) = %q, want the bare ellipsis when the mark does not fit", got)
	}
	if got := cutNotes(long, 0); got != "" {
		t.Errorf("cutNotes(500 x, 0) = %q, want no notes", got)
	}
}
