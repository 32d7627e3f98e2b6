package matrix

import (
	"slices"
	"strings"
	"testing"
)

// Each marker alone on its line, whitespace around it allowed: the region
// is what lies between the markers.
func TestDocsRegion(t *testing.T) {
	for _, content := range []string{
		"# M\n" + DocsStart + "\n| a |\n" + DocsEnd + "\n",
		"# M\r\n  " + DocsStart + " \t\r\n| a |\r\n\t" + DocsEnd,
	} {
		start, end, err := DocsRegion([]byte(content))
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		if got := strings.TrimSpace(content[start:end]); got != "| a |" {
			t.Errorf("%q: region %q, want the table", content, content[start:end])
		}
	}
}

// A marker sharing its line with text is refused, naming the line; the
// configuration runs this check on matrix-file before anything runs.
func TestDocsRegionMarkerNotAloneOnItsLine(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"a\n<!-- x --> " + DocsStart + "\n" + DocsEnd, `line 2: ` + DocsStart + ` shares its line with other text ("<!-- x --> ` + DocsStart + `")`},
		{DocsStart + "\n\n| a | " + DocsEnd + "\n", "line 3: " + DocsEnd + " shares its line"},
		{DocsStart + " " + DocsEnd, "line 1: " + DocsStart + " shares its line"},
	} {
		_, _, err := DocsRegion([]byte(tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "on their own lines") {
			t.Errorf("%q: error %v, want one containing %q and saying where the markers go", tc.content, err, tc.want)
		}
	}
}

// Between the markers only blank lines and table lines (with or without
// pipes at their ends) are allowed; other text is refused naming its line,
// so the configuration catches it before anything runs.
func TestDocsRegionRefusesTextThatIsNotTable(t *testing.T) {
	for _, content := range []string{
		DocsStart + "\n\n" + Header() + "| AWS | ✅ |\nHetzner | ✅ | by hand\n| a \\| b\n  \n" + DocsEnd + "\n",
		DocsStart + "\r\nProvider | Notes\r\n--- | ---\r\nAWS | x\r\n" + DocsEnd,
	} {
		if _, _, err := DocsRegion([]byte(content)); err != nil {
			t.Errorf("%q: %v", content, err)
		}
	}
	for _, tc := range []struct{ content, want string }{
		{"# M\n" + DocsStart + "\n" + Header() + "| AWS | ✅ |\nsee below\n" + DocsEnd + "\n", `line 6: "see below" is not a table line`},
		{DocsStart + "\r\n\r\n  <!-- note -->  \r\n" + DocsEnd, `line 3: "<!-- note -->" is not a table line`},
		// An escaped pipe is text: this line has no cells.
		{DocsStart + "\nAWS \\| GCP\n" + DocsEnd, `line 2: "AWS \\| GCP" is not a table line`},
	} {
		_, _, err := DocsRegion([]byte(tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "move other text outside them") {
			t.Errorf("%q: error %v, want one containing %q and saying to move the text", tc.content, err, tc.want)
		}
	}
}

func TestTableCells(t *testing.T) {
	for _, tc := range []struct {
		line  string
		cells []string
		ok    bool
	}{
		{"| AWS | ✅ | x |", []string{"AWS", "✅", "x"}, true},
		{"  AWS|✅ | x  \r\n", []string{"AWS", "✅", "x"}, true},
		{"| AWS | x", []string{"AWS", "x"}, true},
		{"AWS | x |", []string{"AWS", "x"}, true},
		{`| My \| lab | a\\|b |`, []string{`My \| lab`, `a\\`, "b"}, true},
		{"| | x |", []string{"", "x"}, true},
		{"|", []string{}, true},
		{"a | ", []string{"a"}, true},
		{`a \| b`, nil, false},
		{"plain text", nil, false},
		{"", nil, false},
	} {
		cells, ok := TableCells(tc.line)
		if ok != tc.ok || !slices.Equal(cells, tc.cells) {
			t.Errorf("TableCells(%q) = %q, %v; want %q, %v", tc.line, cells, ok, tc.cells, tc.ok)
		}
	}
}

// A rows line reads back as written, whatever the cells hold: quotes,
// backslashes, a comment's end or a marker cannot end the comment early
// or add a marker to the file, so DocsRegion still finds one of each.
func TestRowsLineRoundTrips(t *testing.T) {
	lines := []RowLine{
		{"aws", "AWS \\| evil"},
		{"gcp", `say "hi" \ there`},
		{"local-no-kvm", "x --> " + DocsEnd + " " + DocsStart + " <b>"},
		{"qemu_tcg", "Équinix ✅\t"},
	}
	line := FormatRowsLine(lines)
	if strings.Count(line, "-->") != 1 || strings.Count(line, "<") != 1 || strings.Count(line, ">") != 1 || strings.ContainsAny(line, "\n\r") {
		t.Fatalf("rows line %q: want one comment on one line, no other < or >", line)
	}
	got, err := ParseRowsLine(line)
	if err != nil || !slices.Equal(got, lines) {
		t.Fatalf("ParseRowsLine(%q) = %q, %v; want %q", line, got, err, lines)
	}
	content := "# M\n" + DocsStart + "\n" + line + "\n" + Header() + "| AWS | x |\n" + DocsEnd + "\n"
	if _, _, err := DocsRegion([]byte(content)); err != nil {
		t.Errorf("DocsRegion refused a rows line FormatRowsLine wrote: %v", err)
	}
	// No pairs: the line still reads.
	if got, err := ParseRowsLine(FormatRowsLine(nil)); err != nil || len(got) != 0 {
		t.Errorf("empty rows line: %q, %v", got, err)
	}
	// What ParseRowsLine would refuse is not written: a key of another
	// form (a foreign status context), a key twice, an empty cell.
	odd := FormatRowsLine([]RowLine{{"aws", "AWS"}, {"ci/build", "x"}, {"aws", "again"}, {"gcp", ""}, {"", "y"}})
	if got, err := ParseRowsLine(odd); err != nil || !slices.Equal(got, []RowLine{{"aws", "AWS"}}) {
		t.Errorf("rows line %q reads as %q, %v; want aws only", odd, got, err)
	}
}

// Each malformed rows line is refused with the reason, not read as
// something else: the docs table's ownership comes from it.
func TestParseRowsLineRefuses(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"not the marker", `<!-- mvm-verify:row aws="AWS" -->`, "does not begin with"},
		{"no end", `<!-- mvm-verify:rows aws="AWS"`, "does not end with -->"},
		{"--> inside", `<!-- mvm-verify:rows aws="AWS" --> gcp="GCP" -->`, "does not end with -->"},
		{"--> inside a cell", `<!-- mvm-verify:rows aws="A-->B" -->`, "does not end with -->"},
		{"glued to the marker", `<!-- mvm-verify:rowsaws="AWS" -->`, "no space after"},
		{"key twice", `<!-- mvm-verify:rows aws="AWS" aws="AWS (c8i)" -->`, "key aws twice"},
		{"empty cell", `<!-- mvm-verify:rows aws="" -->`, "the cell of aws is empty"},
		{"glued pairs", `<!-- mvm-verify:rows aws="AWS"gcp="GCP" -->`, "no space after the cell of aws"},
		{"no =", `<!-- mvm-verify:rows aws -->`, "has no ="},
		{"bad key", `<!-- mvm-verify:rows AWS="AWS" -->`, "is not a row key"},
		{"unquoted cell", `<!-- mvm-verify:rows aws=AWS -->`, "not a double-quoted string"},
		{"single-quoted cell", `<!-- mvm-verify:rows aws='AWS' -->`, "not a double-quoted string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRowsLine(tc.line)
			if err == nil {
				t.Fatalf("ParseRowsLine(%q) = %q, want refused (%s)", tc.line, got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "is not of the form") {
				t.Errorf("error %q, want the form and %q", err, tc.want)
			}
		})
	}
}
