package matrix

import (
	"bytes"
	"fmt"
	"strings"
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
//
// Between the markers only the table goes: every line there is blank or a
// table line (see TableCells). Other text is refused, not kept and not
// dropped: kept in the table's place it would render as a one-cell row (a
// line after rows continues the table) or as a paragraph the header joins,
// and dropped it would lose what someone wrote. Refused here, the
// configuration finds it before anything runs, naming the line, and the
// writer can move it out of the markers.
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
	body := content[start:end]
	firstLine := bytes.Count(content[:start], []byte("\n")) + 1
	for i, line := range bytes.Split(body, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 {
			if _, ok := TableCells(string(t)); !ok {
				return 0, 0, fmt.Errorf("docs table: line %d: %q is not a table line (cells between | pipes): "+
					"only the table goes between %s and %s; move other text outside them",
					firstLine+i, Truncate(string(t), 120), DocsStart, DocsEnd)
			}
		}
	}
	return start, end, nil
}

// TableCells splits a markdown table line into its cells, each trimmed and
// as written (escapes kept). A table line is one with a pipe no backslash
// escapes: GFM needs no pipe at either end of a row ("Hetzner | ✅ | …" is
// one), so one leading and one trailing pipe are dropped, not required.
// ok is false for a line with no such pipe.
func TableCells(line string) (cells []string, ok bool) {
	s := strings.TrimSpace(line)
	from, lastPipe := 0, -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // what is escaped is text, a pipe too
		case '|':
			cells = append(cells, strings.TrimSpace(s[from:i]))
			from, lastPipe = i+1, i
		}
	}
	if lastPipe < 0 {
		return nil, false
	}
	cells = append(cells, strings.TrimSpace(s[from:]))
	if s[0] == '|' {
		cells = cells[1:]
	}
	if lastPipe == len(s)-1 && len(cells) > 0 {
		cells = cells[:len(cells)-1]
	}
	return cells, true
}
