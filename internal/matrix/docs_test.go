package matrix

import (
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
