package ghreport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// seedRows are the seed document's rows as the matrix model holds them.
func seedRows() []matrix.Row {
	mk := func(key, provider string, pre matrix.Status, live matrix.Cell, sec matrix.Cell, notes string) matrix.Row {
		r := matrix.Row{Key: key, Provider: provider, Notes: notes}
		r.Set(matrix.Preflight, pre, "")
		r.Set(matrix.LiveCycle, live.Status, live.Text)
		r.Set(matrix.SeccompProbe, sec.Status, sec.Text)
		return r
	}
	pending := matrix.Cell{Status: matrix.Pending, Text: "pending"}
	unknown := matrix.Cell{Status: matrix.Unknown}
	return []matrix.Row{
		mk("hetzner-no-kvm", "Hetzner", matrix.Pass, matrix.Cell{Status: matrix.NA, Text: "(no KVM tier)"}, matrix.Cell{Status: matrix.NA}, "Runs the no-KVM lane only"),
		mk("gcp", "GCP", matrix.Pass, matrix.Cell{Status: matrix.Pass, Text: "verified 2026-05-06"}, matrix.Cell{Status: matrix.Pass, Text: "pass"}, "$0.10 / 25 min, n2-standard-4"),
		mk("aws", "AWS", matrix.Pass, matrix.Cell{Status: matrix.Pass, Text: "verified 2026-05-06"}, matrix.Cell{Status: matrix.Pass, Text: "pass"}, "$2.50 / 35 min, c5.metal"),
		mk("azure", "Azure", matrix.NotRun, pending, unknown, "Needs az CLI install"),
		mk("vultr", "Vultr", matrix.NotRun, pending, unknown, "Needs vultr-cli + token"),
		mk("latitude", "Latitude.sh", matrix.Fail, pending, unknown, "Needs LATITUDE_API_TOKEN"),
		mk("equinix", "Equinix Metal", matrix.NotRun, pending, unknown, "Needs metal CLI + token"),
		mk("ovh", "OVH", matrix.Fail, pending, unknown, "Needs three OVH_* env vars"),
	}
}

// seedSHA256 is the SHA-256 of the seed document (the project's
// ../shared/seeds/000_04a8a685c314e2d0.txt, 3,075 bytes, no final newline)
// that testdata/seed.txt is a byte-for-byte copy of: an edit of the copy
// would make the docs tests run on a document that is not the seed.
const seedSHA256 = "5f60ea88cb2cdfc023a6f52eb5012ff9528aaf3828f33d9ec5e693e8d583c9cc"

// seedDoc is the seed document, as it is: its matrix table has no markers,
// and its header is glued onto the heading line before it ("Section
// titled “Status — 2026-05-06”| Provider | …"), as the page it was taken
// from had it.
func seedDoc(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != seedSHA256 {
		t.Fatalf("testdata/seed.txt is not the seed document: SHA-256 %x, want %s", sum, seedSHA256)
	}
	return b
}

// The edits markSeed makes to the seed: the start marker goes on a line of
// its own before the table's header (a blank line before it keeps the
// heading a paragraph of its own), and the end marker on a line of its own
// after the table's last row, with a blank line after it.
const (
	seedBeforeTable = "\n\n" + DocsStart + "\n"
	seedAfterTable  = DocsEnd + "\n\n"
)

// markSeed is the seed as a user prepares it for the docs job: markers
// around its table, nothing else changed. It returns the marked document
// and the offsets in seed where the two insertions go.
func markSeed(t *testing.T, seed []byte) (marked []byte, at [2]int) {
	t.Helper()
	header, _, _ := strings.Cut(matrix.Header(), "\n")
	if n := bytes.Count(seed, []byte(header)); n != 1 {
		t.Fatalf("the seed has %d table headers %q, want 1", n, header)
	}
	at[0] = bytes.Index(seed, []byte(header))
	// The table is the header's line and every line after it that begins
	// with a pipe.
	at[1] = at[0]
	for at[1] < len(seed) && seed[at[1]] == '|' {
		nl := bytes.IndexByte(seed[at[1]:], '\n')
		if nl < 0 {
			t.Fatal("the seed's table is its last line: no line after it to keep")
		}
		at[1] += nl + 1
	}
	var b bytes.Buffer
	b.Write(seed[:at[0]])
	b.WriteString(seedBeforeTable)
	b.Write(seed[at[0]:at[1]])
	b.WriteString(seedAfterTable)
	b.Write(seed[at[1]:])
	return b.Bytes(), at
}

// readSeed is the seed document with markers around its table (markSeed).
func readSeed(t *testing.T) []byte {
	t.Helper()
	marked, _ := markSeed(t, seedDoc(t))
	return marked
}

// The marked seed is the seed document plus the markers and the newlines
// around them, nothing else: taking them out gives back its bytes, and
// what lies between the markers is the seed's table, all eight rows.
func TestMarkedSeedIsTheSeedPlusMarkers(t *testing.T) {
	seed := seedDoc(t)
	marked, at := markSeed(t, seed)
	tail := at[1] + len(seedBeforeTable)
	if string(marked[at[0]:at[0]+len(seedBeforeTable)]) != seedBeforeTable || string(marked[tail:tail+len(seedAfterTable)]) != seedAfterTable {
		t.Fatalf("the markers are not where markSeed put them:\n%s", marked)
	}
	unmarked := slices.Concat(marked[:at[0]], marked[at[0]+len(seedBeforeTable):tail], marked[tail+len(seedAfterTable):])
	if !bytes.Equal(unmarked, seed) {
		t.Errorf("the marked seed without its markers is not the seed:\n%q\nwant\n%q", unmarked, seed)
	}
	start, end, err := matrix.DocsRegion(marked)
	if err != nil {
		t.Fatal(err)
	}
	table := string(marked[start:end])
	if want := "\n" + string(seed[at[0]:at[1]]); table != want {
		t.Errorf("between the markers:\n%q\nwant the seed's table\n%q", table, want)
	}
	if n := strings.Count(table, "\n| "); n != 1+len(seedRows()) {
		t.Errorf("the seed's table has %d lines, want the header and %d rows:\n%s", n, len(seedRows()), table)
	}
}

// rowsLine is the rows line for key, cell pairs, with its line ending.
func rowsLine(pairs ...string) string {
	var lines []matrix.RowLine
	for i := 0; i+1 < len(pairs); i += 2 {
		lines = append(lines, matrix.RowLine{Key: pairs[i], Cell: pairs[i+1]})
	}
	return matrix.FormatRowsLine(lines) + "\n"
}

// seedRowsLine is the rows line of the seed's table once its rows are
// known by key: every seed row, the Hetzner one as the no-KVM lane's.
func seedRowsLine() string {
	return rowsLine("hetzner-no-kvm", "Hetzner", "gcp", "GCP", "aws", "AWS", "azure", "Azure", "vultr", "Vultr",
		"latitude", "Latitude.sh", "equinix", "Equinix Metal", "ovh", "OVH")
}

// withSeedRowsLine is the seed with the rows line seedRows give it.
func withSeedRowsLine(seed string) string {
	return strings.Replace(seed, DocsStart+"\n", DocsStart+"\n"+seedRowsLine(), 1)
}

// The seed's own rows render to the seed's table, the rows line added
// right after the start marker; a second rewrite gives the same bytes.
func TestSeedRowsReproduceTheSeedTable(t *testing.T) {
	seed := readSeed(t)
	got, err := RewriteDocsTable(seed, seedRows())
	if err != nil {
		t.Fatal(err)
	}
	if want := withSeedRowsLine(string(seed)); string(got) != want {
		t.Errorf("the seed's own rows do not render to the seed's table:\n%s\nwant\n%s", got, want)
	}
	again, err := RewriteDocsTable(got, seedRows())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, got) {
		t.Errorf("a second rewrite changed the file:\n%s\nwant\n%s", again, got)
	}
}

func TestRewriteDocsTableChangesOnlyTheTable(t *testing.T) {
	seed := readSeed(t)
	rows := seedRows()
	rows[3].Set(matrix.Preflight, matrix.Pass, "")
	rows[3].Set(matrix.LiveCycle, matrix.Fail, "")
	rows[3].Notes = "seccomp_apply: 2 failed | see log"
	got, err := RewriteDocsTable(seed, rows)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(seed, []byte(DocsStart)) + len(DocsStart)
	end := bytes.Index(seed, []byte(DocsEnd))
	tail := len(seed) - end
	if !bytes.Equal(got[:start], seed[:start]) {
		t.Error("bytes before the start marker changed")
	}
	if !bytes.Equal(got[len(got)-tail:], seed[end:]) {
		t.Error("bytes from the end marker on changed")
	}
	inner := string(got[start : len(got)-tail])
	if want := "\n" + seedRowsLine() + matrix.Table(rows); inner != want {
		t.Errorf("between the markers:\n%q\nwant\n%q", inner, want)
	}
	if !strings.Contains(inner, "| Azure | ✅ | ❌ | ? | seccomp_apply: 2 failed \\| see log |") {
		t.Errorf("new Azure row missing:\n%s", inner)
	}
	checkGolden(t, "seed-matrix.rewritten.md", got)
}

func TestRewriteDocsTableErrors(t *testing.T) {
	for name, tt := range map[string]struct{ content, want string }{
		"no markers":    {"# Matrix\n\n| a |\n", "no " + DocsStart},
		"no end marker": {DocsStart + "\n| a |\n", "no " + DocsEnd},
		"reversed":      {DocsEnd + "\n" + DocsStart + "\n", "comes before"},
		"two start":     {DocsStart + DocsStart + DocsEnd, "2 " + DocsStart},
		"two end":       {DocsStart + DocsEnd + DocsEnd, "2 " + DocsEnd},
		// A marker must be alone on its line: the table written after a
		// start marker with text before it would be glued onto that line,
		// where markdown does not render it as a table.
		"text before start": {"# M\ntext " + DocsStart + "\n" + DocsEnd + "\n", "line 2: " + DocsStart + " shares its line with other text (\"text " + DocsStart + "\")"},
		"text after start":  {DocsStart + " | a |\n" + DocsEnd + "\n", "line 1: " + DocsStart + " shares its line"},
		"text around end":   {DocsStart + "\n| a |\nend: " + DocsEnd + " .\n", "line 3: " + DocsEnd + " shares its line"},
		"end at eof glued":  {DocsStart + "\n| a |" + DocsEnd, "line 2: " + DocsEnd + " shares its line"},
		"one line":          {"x\n" + DocsStart + DocsEnd + "\n", "line 2: " + DocsStart + " shares its line"},
		"one line spaced":   {DocsStart + " " + DocsEnd, "shares its line"},
	} {
		_, err := RewriteDocsTable([]byte(tt.content), seedRows())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.want)
		}
	}
}

func TestRewriteDocsTableSeedWithoutMarkers(t *testing.T) {
	seed := string(readSeed(t))
	unmarked := strings.ReplaceAll(strings.ReplaceAll(seed, DocsStart+"\n", ""), DocsEnd+"\n", "")
	_, err := RewriteDocsTable([]byte(unmarked), seedRows())
	if err == nil || !strings.Contains(err.Error(), "put "+DocsStart+" and "+DocsEnd) {
		t.Errorf("seed without markers: error %v, want one saying where the markers go", err)
	}
}

func TestRewriteDocsTableKeepsLineEndingsAndFillsEmptyRegion(t *testing.T) {
	crlf := []byte("# M\r\n" + DocsStart + "\r\n| Hetzner | old |\r\n" + DocsEnd + "\r\ntail\r\n")
	got, err := RewriteDocsTable(crlf, seedRows()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(got, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("bare LF in a CRLF file:\n%q", got)
	}
	// Markers alone on their lines, whitespace around them allowed and
	// kept; nothing between them yet.
	for _, tc := range []struct{ name, before, after string }{
		{"adjacent", "x\n" + DocsStart + "\n", DocsEnd + "\ny"},
		{"indented, trailing blanks", "x\n  " + DocsStart + " \t\n", "\t" + DocsEnd + "  \ny"},
		{"end marker ends the file", DocsStart + "\n", DocsEnd},
	} {
		got, err = RewriteDocsTable([]byte(tc.before+tc.after), seedRows()[:1])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := tc.before + rowsLine("hetzner-no-kvm", "Hetzner") + matrix.Table(seedRows()[:1]) + tc.after; string(got) != want {
			t.Errorf("%s: empty region:\n%q\nwant\n%q", tc.name, got, want)
		}
	}
	// Blank lines just inside the markers stay, after the rows line the
	// first rewrite puts right after the start marker; once it is there,
	// blank lines before and after it stay too.
	spaced := "x\n" + DocsStart + "\n\n" + DocsEnd + "\n"
	got, err = RewriteDocsTable([]byte(spaced), seedRows()[:1])
	if err != nil {
		t.Fatal(err)
	}
	hetzner := rowsLine("hetzner-no-kvm", "Hetzner")
	if want := "x\n" + DocsStart + "\n" + hetzner + "\n" + matrix.Table(seedRows()[:1]) + DocsEnd + "\n"; string(got) != want {
		t.Errorf("blank region:\n%q\nwant\n%q", got, want)
	}
	around := "x\n" + DocsStart + "\n\n" + hetzner + "\n" + matrix.Table(seedRows()[:1]) + "\n" + DocsEnd + "\n"
	if got, err = RewriteDocsTable([]byte(around), seedRows()[:1]); err != nil || string(got) != around {
		t.Errorf("blank lines around the rows line:\n%q, %v\nwant\n%q", got, err, around)
	}
}

// The table takes the start marker's line ending: one CRLF elsewhere in an
// LF file (a pasted line in the intro) does not make the table CRLF, and a
// CRLF file keeps CRLF although a stray line of it is LF.
func TestRewriteDocsTableTakesTheStartMarkersLineEnding(t *testing.T) {
	rows := seedRows()[:2]
	for _, tc := range []struct {
		name, before, after, eol string
	}{
		{"LF file, CRLF in the intro", "# M\r\nintro\n" + DocsStart + "\n", DocsEnd + "\r\ntail\n", "\n"},
		{"CRLF file, LF in the intro", "# M\nintro\r\n" + DocsStart + "\r\n", DocsEnd + "\ntail\r\n", "\r\n"},
	} {
		// A stale Hetzner row, rewritten in its place; GCP's is added.
		got, err := RewriteDocsTable([]byte(tc.before+"| Hetzner | old |"+tc.eol+tc.after), rows)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		table := strings.ReplaceAll(rowsLine("hetzner-no-kvm", "Hetzner", "gcp", "GCP")+matrix.Table(rows), "\n", tc.eol)
		if want := tc.before + table + tc.after; string(got) != want {
			t.Errorf("%s:\n%q\nwant\n%q", tc.name, got, want)
		}
	}
}

// Rows the rewrite is not given stay exactly as they are, in their place:
// a run of some legs must not erase what the file knows of the others.
func TestRewriteDocsTableKeepsRowsItWasNotGiven(t *testing.T) {
	seed := string(readSeed(t))
	aws := seedRows()[2]
	aws.Set(matrix.LiveCycle, matrix.Fail, "")
	aws.Notes = "boom"
	qemu := matrix.Row{Key: "qemu-tcg"} // no provider: the key's display name
	qemu.Set(matrix.Preflight, matrix.Pass, "")
	got, err := RewriteDocsTable([]byte(seed), []matrix.Row{qemu, aws})
	if err != nil {
		t.Fatal(err)
	}
	const oldAWS = "| AWS | ✅ | ✅ verified 2026-05-06 | ✅ pass | $2.50 / 35 min, c5.metal |\n"
	want := strings.Replace(seed, oldAWS, "| AWS | ✅ | ❌ | ✅ pass | boom |\n", 1)
	want = strings.Replace(want, DocsEnd, "| QEMU (tcg) | ✅ | ? | ? |  |\n"+DocsEnd, 1)
	want = strings.Replace(want, DocsStart+"\n", DocsStart+"\n"+rowsLine("aws", "AWS", "qemu-tcg", "QEMU (tcg)"), 1)
	if !strings.Contains(seed, oldAWS) || string(got) != want {
		t.Errorf("rewrite of AWS and a new QEMU row:\n%s\nwant\n%s", got, want)
	}

	// Lines no row maps to (a provider of no key given, a hand-written
	// name with an escaped pipe, a second line for one provider) are kept
	// byte for byte, their line endings too; the row given replaces the
	// first line for its provider.
	content := DocsStart + "\n" + matrix.Header() +
		"| GCP | ✅ | ✅ | ✅ | old gcp |\r\n" +
		"|My \\| lab|✅|✅|✅|by hand|\n" +
		"| AWS | ❌ | ❌ | ❌ | first |\n" +
		"| AWS | ❌ | ❌ | ❌ | second |\n" +
		"\n" + DocsEnd + "\n"
	got, err = RewriteDocsTable([]byte(content), []matrix.Row{aws})
	if err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(content, "| AWS | ❌ | ❌ | ❌ | first |\n", "| AWS | ✅ | ❌ | ✅ pass | boom |\n", 1)
	want = strings.Replace(want, DocsStart+"\n", DocsStart+"\n"+rowsLine("aws", "AWS"), 1)
	if string(got) != want {
		t.Errorf("rewrite:\n%q\nwant\n%q", got, want)
	}

	// A row whose provider name the leg changed still finds its line
	// by the key's display name.
	renamed := aws
	renamed.Provider = "AWS (c8i)"
	got, err = RewriteDocsTable([]byte(seed), []matrix.Row{renamed})
	if err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(seed, oldAWS, "| AWS (c8i) | ✅ | ❌ | ✅ pass | boom |\n", 1)
	if want = strings.Replace(want, DocsStart+"\n", DocsStart+"\n"+rowsLine("aws", "AWS (c8i)"), 1); string(got) != want {
		t.Errorf("renamed AWS row:\n%s\nwant\n%s", got, want)
	}
}

// The docs table the example workflow keeps true: the file its docs job
// names exists and has the markers, so that job's report can rewrite it.
func TestRepositoryDocsMatrixIsRewritable(t *testing.T) {
	workflow, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", "verify.yml"))
	if err != nil {
		t.Fatal(err)
	}
	const file = "docs/verification-matrix.md"
	if !strings.Contains(string(workflow), "matrix-file: "+file) {
		t.Fatalf("verify.yml does not rewrite %s", file)
	}
	content, err := os.ReadFile(filepath.Join("..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	got, err := RewriteDocsTable(content, seedRows())
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if !strings.HasPrefix(string(got), string(content[:strings.Index(string(content), DocsStart)])) {
		t.Errorf("the intro of %s changed", file)
	}
}

// rewriteTable runs RewriteDocsTable on a region holding the header and
// body (with no rows line: a table written by hand), and returns what lies
// between the header and the end marker.
func rewriteTable(t *testing.T, body string, rows ...matrix.Row) string {
	t.Helper()
	table, _ := rewriteRegion(t, "", body, rows...)
	return table
}

// rewriteRegion runs RewriteDocsTable on a region holding rowsLine (may be
// empty), the header and body, and returns what lies between the header
// and the end marker, and the rows line written.
func rewriteRegion(t *testing.T, rowsLine, body string, rows ...matrix.Row) (table, newRowsLine string) {
	t.Helper()
	got, err := RewriteDocsTable([]byte(DocsStart+"\n"+rowsLine+matrix.Header()+body+DocsEnd+"\n"), rows)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := strings.CutPrefix(string(got), DocsStart+"\n")
	newRowsLine, rest, _ = strings.Cut(rest, "\n")
	rest, ok2 := strings.CutPrefix(rest, matrix.Header())
	if !ok || !ok2 || !matrix.IsRowsLine(newRowsLine) || !strings.HasSuffix(rest, DocsEnd+"\n") {
		t.Fatalf("markers, rows line or header not where they go:\n%s", got)
	}
	return strings.TrimSuffix(rest, DocsEnd+"\n"), newRowsLine + "\n"
}

// A row finds its line by the display name of its key only when no line
// of the table names its provider: a line further down that does is the
// row's, whatever comes before it, and the line the display name matches
// (here a hand-written metal lane) is kept.
func TestRewriteDocsTableExactProviderBeatsDisplayName(t *testing.T) {
	c8i := matrix.Row{Key: "aws", Provider: "AWS (c8i)", Notes: "new run"}
	c8i.Set(matrix.LiveCycle, matrix.Pass, "")
	const metal = "| AWS | ✅ | ✅ | ✅ | metal lane, by hand |\n"
	const last = "| AWS (c8i) | ❌ | ❌ | ❌ | last run |\n"
	for name, tc := range map[string]struct{ body, want string }{
		"display name first": {metal + last, metal + c8i.Markdown()},
		"display name last":  {last + metal, c8i.Markdown() + metal},
	} {
		if got := rewriteTable(t, tc.body, c8i); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, tc.want)
		}
	}

	// A row given later whose provider is the line's exact name takes it
	// before an earlier row's display-name fallback can; the renamed row,
	// left without a line, is added at the end.
	metalRow := matrix.Row{Key: "aws-metal", Provider: "AWS", Notes: "metal run"}
	metalRow.Set(matrix.Preflight, matrix.Pass, "")
	want := "| GCP | ✅ | ✅ | ✅ | kept |\n" + metalRow.Markdown() + c8i.Markdown()
	if got := rewriteTable(t, "| GCP | ✅ | ✅ | ✅ | kept |\n"+metal, c8i, metalRow); got != want {
		t.Errorf("exact name for a later row:\n%s\nwant\n%s", got, want)
	}

	// Two rows with the same name, one line for it: the first row takes
	// it. The second, whose exact name is in the table, takes no line by
	// its key's display name (GCP) nor by its seed name (Hetzner): those
	// lines are kept as they are and the row is added at the end.
	const gcpLine = "| GCP | ✅ | ✅ | ✅ | kept |\n"
	const hetznerLine = "| Hetzner | ✅ | ✅ | ✅ | kept |\n"
	const sharedLine = "| Shared | ❌ | ❌ | ❌ | last run |\n"
	first := matrix.Row{Key: "aws", Provider: "Shared", Notes: "first"}
	for _, second := range []matrix.Row{
		{Key: "gcp", Provider: "Shared", Notes: "second by display name"},
		{Key: "hetzner-no-kvm", Provider: "Shared", Notes: "second by seed name"},
	} {
		want := first.Markdown() + gcpLine + hetznerLine + second.Markdown()
		if got := rewriteTable(t, sharedLine+gcpLine+hetznerLine, first, second); got != want {
			t.Errorf("two rows named Shared, the second %s:\n%s\nwant\n%s", second.Key, got, want)
		}
	}
}

// A row matched by its key's display name is rewritten where its line is,
// not moved to the end; of two lines for that name the first is the row's
// and the second is kept as it is, however often the rewrite runs.
func TestRewriteDocsTableRenamedRowKeepsItsPlaceAndFirstDuplicate(t *testing.T) {
	c8i := matrix.Row{Key: "aws", Provider: "AWS (c8i)", Notes: "renamed"}
	const gcp = "| GCP | ✅ | ✅ | ✅ | kept |\n"
	const azure = "| Azure | — | ⏳ pending | ? | kept |\n"
	const second = "| AWS | ❌ | ❌ | ❌ | second |\n"
	body := gcp + "| AWS | ❌ | ❌ | ❌ | first |\n" + second + azure
	want := gcp + c8i.Markdown() + second + azure
	got := rewriteTable(t, body, c8i)
	if got != want {
		t.Fatalf("renamed row:\n%s\nwant\n%s", got, want)
	}
	// Run again on the result: the row now has its own line, which it
	// takes; the second AWS line still stays.
	c8i.Notes = "again"
	if got, want := rewriteTable(t, got, c8i), gcp+c8i.Markdown()+second+azure; got != want {
		t.Errorf("second run:\n%s\nwant\n%s", got, want)
	}

	// The same for an exact name: two lines for "AWS", the first taken.
	aws := matrix.Row{Key: "aws", Provider: "AWS", Notes: "exact"}
	if got, want := rewriteTable(t, body, aws), gcp+aws.Markdown()+second+azure; got != want {
		t.Errorf("duplicate exact lines:\n%s\nwant\n%s", got, want)
	}
}

// GFM needs no pipe at either end of a row: a table written that way keeps
// its rows (those no row of this run stands for, byte for byte), and its
// header and separator are recognised and written afresh.
func TestRewriteDocsTableRowsWithoutOuterPipes(t *testing.T) {
	aws := matrix.Row{Key: "aws", Provider: "AWS", Notes: "new"}
	aws.Set(matrix.Preflight, matrix.Pass, "")
	content := DocsStart + "\n" +
		"Provider | Preflight | Live cycle | Seccomp probe | Notes\n" +
		"--- | :-: | --- | --- | ---\n" +
		"Hetzner | ✅ | n/a | n/a | by hand\n" +
		"AWS | ❌ | ❌ | ❌ | old\n" +
		"| Vultr | — | ⏳ pending | ? | leading pipe only\n" +
		"My \\| lab | ✅ | ✅ | ✅ | trailing pipe only |\n" +
		DocsEnd + "\n"
	got, err := RewriteDocsTable([]byte(content), []matrix.Row{aws})
	if err != nil {
		t.Fatal(err)
	}
	want := DocsStart + "\n" + rowsLine("aws", "AWS") + matrix.Header() +
		"Hetzner | ✅ | n/a | n/a | by hand\n" +
		aws.Markdown() +
		"| Vultr | — | ⏳ pending | ? | leading pipe only\n" +
		"My \\| lab | ✅ | ✅ | ✅ | trailing pipe only |\n" +
		DocsEnd + "\n"
	if string(got) != want {
		t.Errorf("rows without outer pipes:\n%s\nwant\n%s", got, want)
	}
}

// Text between the markers that is not a table line is refused, naming
// the line, rather than dropped; the file is left to the caller unchanged.
func TestRewriteDocsTableRefusesTextInTheTable(t *testing.T) {
	content := "# M\n" + DocsStart + "\n" + matrix.Header() +
		"| AWS | ✅ | ✅ | ✅ | x |\n" +
		"Numbers from the May run.\n" +
		"\n" + DocsEnd + "\n"
	got, err := RewriteDocsTable([]byte(content), seedRows())
	if err == nil || got != nil ||
		!strings.Contains(err.Error(), `line 6: "Numbers from the May run." is not a table line`) ||
		!strings.Contains(err.Error(), "move other text outside them") {
		t.Errorf("text in the table: %q, error %v; want an error naming line 6 and saying to move it", got, err)
	}
}

// named is a leg's own row for key under the name its display input gave.
func named(key, provider, notes string) matrix.Row {
	r := legRow(key, matrix.Pass, notes)
	r.Provider = provider
	return r
}

// fromStatus is a row a report rebuilt from key's status: it names the leg
// by its key's display name, not knowing its display input.
func fromStatus(key, notes string) matrix.Row {
	r := legRow(key, matrix.Fail, notes)
	r.Provider, r.Source = matrix.DisplayName(key), matrix.FromStatus
	return r
}

// The rows line ties each line of the table to its leg, so a rewrite
// finds a leg's line whatever its Provider cell says now: a leg renamed
// by its display input, a stand-in that knows the leg by its key only, or
// two legs sharing a name keep one line each, where matching names alone
// left the old line stale and added a second. Every rewrite is run twice:
// the second gives the same bytes.
func TestRewriteDocsTableRowsLine(t *testing.T) {
	const gcp = "| GCP | ✅ | ✅ | ✅ | by hand |\n"
	c8i := named("aws", "AWS (c8i)", "first")
	metal := named("aws", "AWS (metal)", "second")
	noResult := placeholder("ssh", "", "no result from this leg")
	type run struct {
		rows            []matrix.Row
		table, rowsLine string
	}
	for _, tc := range []struct {
		name           string
		rowsLine, body string
		runs           []run
	}{{
		name: "display changed between two rewrites",
		body: gcp,
		runs: []run{
			{[]matrix.Row{c8i}, gcp + c8i.Markdown(), rowsLine("aws", "AWS (c8i)")},
			{[]matrix.Row{metal}, gcp + metal.Markdown(), rowsLine("aws", "AWS (metal)")},
			// Back to the default name: still the one line.
			{[]matrix.Row{legRow("aws", matrix.Fail, "third")}, gcp + legRowNamed("aws", "AWS", matrix.Fail, "third"), rowsLine("aws", "AWS")},
		},
	}, {
		name: "a stand-in keeps the name the leg gave its line",
		body: gcp,
		runs: []run{
			{[]matrix.Row{c8i}, gcp + c8i.Markdown(), rowsLine("aws", "AWS (c8i)")},
			{[]matrix.Row{fromStatus("aws", "from the status")}, gcp + "| AWS (c8i) | ✅ | ❌ | ❌ | from the status |\n", rowsLine("aws", "AWS (c8i)")},
		},
	}, {
		name:     "an expected leg that never reported, its line named by hand",
		rowsLine: rowsLine("ssh", "My lab"),
		body:     "| My lab | ✅ | ✅ | ✅ | last week |\n" + gcp,
		runs: []run{
			{[]matrix.Row{noResult}, "| My lab | ? | ? | ? | no result from this leg |\n" + gcp, rowsLine("ssh", "My lab")},
		},
	}, {
		name:     "two legs of one name each keep their line",
		rowsLine: rowsLine("aws", "AWS", "aws-arm", "AWS"),
		body:     "| AWS | ✅ | ✅ | ✅ | x86 |\n| AWS | ✅ | ✅ | ✅ | arm |\n",
		runs: []run{
			{[]matrix.Row{named("aws-arm", "AWS", "arm again")}, "| AWS | ✅ | ✅ | ✅ | x86 |\n" + named("aws-arm", "AWS", "arm again").Markdown(), rowsLine("aws", "AWS", "aws-arm", "AWS")},
			{[]matrix.Row{named("aws", "AWS", "x86 again")}, named("aws", "AWS", "x86 again").Markdown() + named("aws-arm", "AWS", "arm again").Markdown(), rowsLine("aws", "AWS", "aws-arm", "AWS")},
		},
	}, {
		// The display-name fallback does not take another leg's line.
		name:     "a leg's line is not another's by name",
		rowsLine: rowsLine("aws-metal", "AWS"),
		body:     "| AWS | ✅ | ✅ | ✅ | metal |\n",
		runs: []run{
			{[]matrix.Row{c8i}, "| AWS | ✅ | ✅ | ✅ | metal |\n" + c8i.Markdown(), rowsLine("aws-metal", "AWS", "aws", "AWS (c8i)")},
		},
	}, {
		name:     "rows reordered by hand",
		rowsLine: rowsLine("gcp", "GCP", "aws", "AWS (c8i)"),
		body:     "| AWS (c8i) | ❌ | ❌ | ❌ | old |\n" + gcp,
		runs: []run{
			{[]matrix.Row{metal, fromStatus("gcp", "new")}, metal.Markdown() + "| GCP | ✅ | ❌ | ❌ | new |\n", rowsLine("aws", "AWS (metal)", "gcp", "GCP")},
		},
	}, {
		// The rows line lists a line that is gone: the row is added.
		name:     "a row deleted by hand",
		rowsLine: rowsLine("aws", "AWS (c8i)", "gcp", "GCP"),
		body:     gcp,
		runs: []run{
			{[]matrix.Row{metal}, gcp + metal.Markdown(), rowsLine("gcp", "GCP", "aws", "AWS (metal)")},
		},
	}, {
		// A Provider cell changed by hand matches nothing the rows line
		// lists: that line is kept, as any line no row stands for, and
		// the leg's row is added.
		name:     "a line renamed by hand",
		rowsLine: rowsLine("aws", "AWS (c8i)"),
		body:     "| Amazon | ❌ | ❌ | ❌ | old |\n",
		runs: []run{
			{[]matrix.Row{metal}, "| Amazon | ❌ | ❌ | ❌ | old |\n" + metal.Markdown(), rowsLine("aws", "AWS (metal)")},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			content := []byte(DocsStart + "\n" + tc.rowsLine + matrix.Header() + tc.body + DocsEnd + "\n")
			for i, r := range tc.runs {
				got, err := RewriteDocsTable(content, r.rows)
				if err != nil {
					t.Fatalf("run %d: %v", i+1, err)
				}
				want := DocsStart + "\n" + r.rowsLine + matrix.Header() + r.table + DocsEnd + "\n"
				if string(got) != want {
					t.Fatalf("run %d:\n%s\nwant\n%s", i+1, got, want)
				}
				again, err := RewriteDocsTable(got, r.rows)
				if err != nil || !bytes.Equal(again, got) {
					t.Fatalf("run %d again changed the file (%v):\n%s\nwant\n%s", i+1, err, again, got)
				}
				content = got
			}
		})
	}
}

// A line the rows line gives a leg is that leg's alone, and only that
// line: a copy of it further down (same name, no owner) is kept byte for
// byte rather than rewritten a second time, and a line another leg owns
// under this row's name neither blocks the row's fallback to its key's
// name nor is taken, so the row's old line is rewritten, not left stale
// beside a new one. Each rewrite is run twice: the second gives the same
// bytes.
func TestRewriteDocsTableOwnedLinesAndCopies(t *testing.T) {
	const first = "| AWS | ✅ | ✅ | ✅ | first |\n"
	const copied = "| AWS | ✅ | ✅ | ✅ | copied by hand |\n"
	const foo = "| Foo | ✅ | ✅ | ✅ | gcp's |\n"
	const old = "| AWS | ❌ | ❌ | ❌ | old |\n"
	fooRow := legRow("aws", matrix.Fail, "new")
	fooRow.Provider = "Foo"
	for _, tc := range []struct {
		name, rowsLine, body string
		row                  matrix.Row
		table, wantRowsLine  string
	}{
		{"a copy of the leg's line is kept", rowsLine("aws", "AWS"), first + copied, legRow("aws", matrix.Fail, "new"),
			legRowNamed("aws", "AWS", matrix.Fail, "new") + copied, rowsLine("aws", "AWS")},
		{"another leg's line of this row's name", rowsLine("gcp", "Foo"), foo + old, fooRow,
			foo + fooRow.Markdown(), rowsLine("gcp", "Foo", "aws", "Foo")},
	} {
		table, gotRowsLine := rewriteRegion(t, tc.rowsLine, tc.body, tc.row)
		if table != tc.table || gotRowsLine != tc.wantRowsLine ||
			strings.Count(table, "| new |") != 1 || strings.Contains(table, "old") {
			t.Errorf("%s:\n%s%s\nwant\n%s%s", tc.name, gotRowsLine, table, tc.wantRowsLine, tc.table)
			continue
		}
		if again, againRowsLine := rewriteRegion(t, gotRowsLine, table, tc.row); again != table || againRowsLine != gotRowsLine {
			t.Errorf("%s, again:\n%s%s\nwant\n%s%s", tc.name, againRowsLine, again, gotRowsLine, table)
		}
	}
}

// legRowNamed is legRow's markdown under provider.
func legRowNamed(key, provider string, status matrix.Status, notes string) string {
	r := legRow(key, status, notes)
	r.Provider = provider
	return r.Markdown()
}

// The seed's Hetzner row is the no-KVM lane's (Hetzner Cloud has no KVM
// tier, and the row says it runs that lane only): in a table without a
// rows line a hetzner-no-kvm row takes it, unless a hetzner row does or
// the rows line gives it to another leg. No other provider's no-KVM lane
// takes its provider's row.
func TestRewriteDocsTableSeedHetznerRowIsTheNoKVMLane(t *testing.T) {
	const hetzner = "| Hetzner | ✅ | n/a (no KVM tier) | n/a | Runs the no-KVM lane only |\n"
	const aws = "| AWS | ✅ | ✅ verified 2026-05-06 | ✅ pass | $2.50 / 35 min, c5.metal |\n"
	noResult := placeholder("hetzner-no-kvm", "", "no result from this leg")
	lane := named("hetzner-no-kvm", "Hetzner (no-kvm)", "ran")
	kvm := named("hetzner", "Hetzner", "dedicated")
	for _, tc := range []struct {
		name, rowsLine      string
		rows                []matrix.Row
		table, wantRowsLine string
	}{
		{"never reported", "", []matrix.Row{noResult},
			"| Hetzner | ? | ? | ? | no result from this leg |\n" + aws, rowsLine("hetzner-no-kvm", "Hetzner")},
		{"the lane's own row renames it", "", []matrix.Row{lane},
			lane.Markdown() + aws, rowsLine("hetzner-no-kvm", "Hetzner (no-kvm)")},
		{"a hetzner row takes it first", "", []matrix.Row{noResult, kvm},
			kvm.Markdown() + aws + noResult.Markdown(), rowsLine("hetzner", "Hetzner", "hetzner-no-kvm", "Hetzner (no-kvm)")},
		{"the rows line gives it to hetzner", rowsLine("hetzner", "Hetzner"), []matrix.Row{noResult},
			hetzner + aws + noResult.Markdown(), rowsLine("hetzner", "Hetzner", "hetzner-no-kvm", "Hetzner (no-kvm)")},
		{"aws-no-kvm is not the AWS row", "", []matrix.Row{named("aws-no-kvm", "AWS (no-kvm)", "tcg")},
			hetzner + aws + named("aws-no-kvm", "AWS (no-kvm)", "tcg").Markdown(), rowsLine("aws-no-kvm", "AWS (no-kvm)")},
	} {
		table, gotRowsLine := rewriteRegion(t, tc.rowsLine, hetzner+aws, tc.rows...)
		if table != tc.table || gotRowsLine != tc.wantRowsLine {
			t.Errorf("%s:\n%s%s\nwant\n%s%s", tc.name, gotRowsLine, table, tc.wantRowsLine, tc.table)
		}
	}
}

// A rows line that is not as the rewrite writes it (a hand edit, a merge
// that kept both sides) is refused naming its line and saying to delete
// it, and the file is left to the caller unchanged: guessing at it could
// give one leg's result to another's line. The configuration runs the same
// check on matrix-file before anything runs.
func TestRewriteDocsTableRefusesABadRowsLine(t *testing.T) {
	const good = `<!-- mvm-verify:rows aws="AWS" -->`
	for _, tc := range []struct{ name, region, want string }{
		{"unquoted cell", `<!-- mvm-verify:rows aws=AWS -->` + "\n", `line 4: rows line "<!-- mvm-verify:rows aws=AWS -->" is not of the form`},
		{"key twice", `<!-- mvm-verify:rows aws="AWS" aws="GCP" -->` + "\n", "key aws twice"},
		{"not a row key", `<!-- mvm-verify:rows AWS="AWS" -->` + "\n", `key "AWS" is not a row key`},
		{"no end", `<!-- mvm-verify:rows aws="AWS"` + "\n", "does not end with -->"},
		{"glued", `<!-- mvm-verify:rowsaws="AWS" -->` + "\n", "no space after " + matrix.DocsRows},
		{"empty cell", `<!-- mvm-verify:rows aws="" -->` + "\n", "the cell of aws is empty"},
		{"pairs glued", `<!-- mvm-verify:rows aws="AWS"gcp="GCP" -->` + "\n", "no space after the cell of aws"},
		{"two rows lines", good + "\n" + good + "\n", fmt.Sprintf("line 5: %q: the rows line goes once, first after %s", good, DocsStart)},
		{"after the table", matrix.Header() + good + "\n", fmt.Sprintf("line 6: %q: the rows line goes once", good)},
	} {
		content := "# M\n\n" + DocsStart + "\n" + tc.region + matrix.Header() + "| AWS | ✅ | ✅ | ✅ | x |\n" + DocsEnd + "\n"
		got, err := RewriteDocsTable([]byte(content), seedRows())
		if err == nil || got != nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "delete") {
			t.Errorf("%s: %q, error %v; want an error containing %q and saying to delete the line", tc.name, got, err, tc.want)
		}
	}
}
