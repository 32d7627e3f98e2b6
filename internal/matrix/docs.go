package matrix

import (
	"bytes"
	"fmt"
)

// A docs file's matrix table lives between these markers. They are here, not
// with the rewrite, so the configuration can check a matrix file before
// anything runs.
const (
	DocsStart = "<!-- mvm-verify:start -->"
	DocsEnd   = "<!-- mvm-verify:end -->"
)

// DocsRegion finds the bytes between the markers: exactly one of each, the
// start first, each alone on its line (whitespace around it allowed). A
// marker sharing its line with text would have the table glued onto that
// line, where markdown does not render it as a table.
func DocsRegion(content []byte) (start, end int, err error) {
	help := fmt.Sprintf("put %s and %s on their own lines around the table", DocsStart, DocsEnd)
	for _, m := range []string{DocsStart, DocsEnd} {
		switch n := bytes.Count(content, []byte(m)); {
		case n == 0:
			return 0, 0, fmt.Errorf("docs table: no %s marker in the file: %s", m, help)
		case n > 1:
			return 0, 0, fmt.Errorf("docs table: %d %s markers in the file, want one: %s", n, m, help)
		}
	}
	start = bytes.Index(content, []byte(DocsStart)) + len(DocsStart)
	end = bytes.Index(content, []byte(DocsEnd))
	if end < start {
		return 0, 0, fmt.Errorf("docs table: %s comes before %s: %s", DocsEnd, DocsStart, help)
	}
	for _, m := range []struct {
		marker string
		at     int
	}{{DocsStart, start - len(DocsStart)}, {DocsEnd, end}} {
		lineStart := bytes.LastIndexByte(content[:m.at], '\n') + 1
		lineEnd := len(content)
		if i := bytes.IndexByte(content[m.at:], '\n'); i >= 0 {
			lineEnd = m.at + i
		}
		line := bytes.TrimSpace(content[lineStart:lineEnd])
		if len(line) != len(m.marker) {
			return 0, 0, fmt.Errorf("docs table: line %d: %s shares its line with other text (%q): %s",
				bytes.Count(content[:lineStart], []byte("\n"))+1, m.marker, Truncate(string(line), 120), help)
		}
	}
	return start, end, nil
}
