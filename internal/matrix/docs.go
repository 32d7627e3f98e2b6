package matrix

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// A docs file's matrix table lives between these markers. They are here, not
// with the rewrite, so the configuration can check a matrix file before
// anything runs.
const (
	DocsStart = "<!-- mvm-verify:start -->"
	DocsEnd   = "<!-- mvm-verify:end -->"
)

// DocsFileForm is the form a matrix-file input is expected to have, as
// its refusals say it, whether the configuration or the report refuses it.
const DocsFileForm = "a markdown file with " + DocsStart + " … " + DocsEnd

// DocsRegion finds the bytes between the markers: exactly one of each, the
// start first, each alone on its line (whitespace around it allowed). A
// marker sharing its line with text would have the table glued onto that
// line, where markdown does not render it as a table.
//
// Between the markers only the table goes: every line there is blank or a
// table line (see TableCells), but for the rows line (DocsRows), which
// must be the first line that is not blank and must read (ParseRowsLine).
// Other text is refused, not kept and not dropped: kept in the table's
// place it would render as a one-cell row (a line after rows continues the
// table) or as a paragraph the header joins, and dropped it would lose
// what someone wrote. A mangled rows line is refused too: it says which
// leg each row is, and read wrong it could give one leg another's line.
// Refused here, the configuration finds it before anything runs, naming
// the line, and the writer can move the text out of the markers (or
// delete the rows line, which the next report writes afresh).
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
	seenLine := false
	for i, line := range bytes.Split(body, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 {
			first := !seenLine
			seenLine = true
			if IsRowsLine(string(t)) {
				if !first {
					return 0, 0, fmt.Errorf("docs table: line %d: %q: the rows line goes once, first after %s: "+
						"delete this one; the next report writes the line afresh", firstLine+i, Truncate(string(t), 120), DocsStart)
				}
				if _, err := ParseRowsLine(string(t)); err != nil {
					return 0, 0, fmt.Errorf("docs table: line %d: %w; the line is mvm-verify's own: "+
						"delete it and the next report writes it afresh", firstLine+i, err)
				}
				continue
			}
			if _, ok := TableCells(string(t)); !ok {
				return 0, 0, fmt.Errorf("docs table: line %d: %q is not a table line (cells between | pipes): "+
					"only the table goes between %s and %s; move other text outside them",
					firstLine+i, Truncate(string(t), 120), DocsStart, DocsEnd)
			}
		}
	}
	return start, end, nil
}

// DocsRows begins the line, first between the markers, that says which leg
// each row of the docs table is: <!-- mvm-verify:rows aws="AWS (c8i)" … -->,
// one key="Provider cell" pair per row, in table order. The Provider cell
// alone cannot say it: a leg's display input renames its row between runs,
// a report that knows only a leg's key names it by the key's display name,
// and two legs may share a name; matched by name alone, such a row's line
// would be left stale and a second line added. An HTML comment alone on its
// line, as the markers are, it does not show on GitHub.
const DocsRows = "<!-- mvm-verify:rows"

// RowLine ties a line of the docs table to a leg: the line whose Provider
// cell is Cell (as written, escapes kept) is the row of Key.
type RowLine struct{ Key, Cell string }

// rowKey is a row key as the key input makes it; a key of another form
// (a foreign status context) is not written to the rows line.
var rowKey = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidKey reports whether s has the form of a row key, as the key input
// takes it: lowercase letters, digits, - and _, starting with a letter or a
// digit, at most 63 characters (GCE's label limit).
func ValidKey(s string) bool { return rowKey.MatchString(s) }

// IsRowsLine reports whether line (trimmed) is a rows line, well formed or
// not.
func IsRowsLine(line string) bool {
	return strings.HasPrefix(strings.TrimSpace(line), DocsRows)
}

// FormatRowsLine writes the rows line for lines, in their order, without a
// line ending. A pair whose key is not a row key, or whose key an earlier
// pair has, or whose cell is empty, is left out: ParseRowsLine would refuse
// it. The cells are quoted as Go strings with < and > escaped too, so no
// cell can end the comment or carry a marker.
func FormatRowsLine(lines []RowLine) string {
	var b strings.Builder
	b.WriteString(DocsRows)
	seen := map[string]bool{}
	for _, l := range lines {
		if !ValidKey(l.Key) || seen[l.Key] || l.Cell == "" {
			continue
		}
		seen[l.Key] = true
		q := strconv.Quote(l.Cell)
		q = strings.ReplaceAll(strings.ReplaceAll(q, "<", `\x3c`), ">", `\x3e`)
		b.WriteString(" " + l.Key + "=" + q)
	}
	b.WriteString(" -->")
	return b.String()
}

// ParseRowsLine reads a rows line FormatRowsLine wrote. Anything else (a
// hand edit gone wrong, a merge that joined two) is an error saying what
// was wrong: guessing at it could give a leg another leg's line.
func ParseRowsLine(line string) ([]RowLine, error) {
	const form = `<!-- mvm-verify:rows key="Provider cell" … -->`
	t := strings.TrimSpace(line)
	bad := func(format string, a ...any) error {
		return fmt.Errorf("rows line %q is not of the form %s: %s", Truncate(t, 120), form, fmt.Sprintf(format, a...))
	}
	rest, ok := strings.CutPrefix(t, DocsRows)
	if !ok {
		return nil, bad("it does not begin with %s", DocsRows)
	}
	rest, ok = strings.CutSuffix(rest, "-->")
	if !ok || strings.Contains(rest, "-->") {
		return nil, bad("it does not end with --> (once)")
	}
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return nil, bad("no space after %s", DocsRows)
	}
	var lines []RowLine
	seen := map[string]bool{}
	for rest = strings.TrimLeft(rest, " \t"); rest != ""; rest = strings.TrimLeft(rest, " \t") {
		key, value, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, bad("%q has no =", Truncate(rest, 40))
		}
		if !ValidKey(key) {
			return nil, bad("key %q is not a row key (lowercase letters, digits, - and _)", Truncate(key, 40))
		}
		if seen[key] {
			return nil, bad("key %s twice", key)
		}
		seen[key] = true
		quoted, err := strconv.QuotedPrefix(value)
		if err != nil || quoted[0] != '"' {
			return nil, bad("the cell of %s is not a double-quoted string", key)
		}
		cell, _ := strconv.Unquote(quoted)
		if cell == "" {
			return nil, bad("the cell of %s is empty", key)
		}
		rest = value[len(quoted):]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return nil, bad("no space after the cell of %s", key)
		}
		lines = append(lines, RowLine{Key: key, Cell: cell})
	}
	return lines, nil
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
