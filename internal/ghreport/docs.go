package ghreport

import (
	"bytes"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// The docs file's table lives between these markers.
const (
	DocsStart = matrix.DocsStart
	DocsEnd   = matrix.DocsEnd
)

// RewriteDocsTable updates the table between the markers with rows and
// keeps every other byte of the file, so a workflow can commit the result
// and the diff shows only the rows that changed.
//
// rows are what this run knows. A row of the table already in the file
// stands for a row of rows when its Provider cell is that row's provider
// (or the display name of its key): it is rewritten in its place. Every
// other row of the table (a leg this run did not report on, a provider
// that maps to no row) stays exactly as it was, line ending included, in
// its place: the file is the matrix's memory, and a run of some legs must
// not erase the others. Rows with no line in the table yet are added at
// its end, in the order given. Of two lines for one provider, the first is
// the row's; the other is kept as it is.
//
// What lies between the markers is the table's: blank lines just inside
// the markers are kept, the header is written afresh, and text that is not
// a table line is dropped. The lines written take the line ending of the
// start marker's line, so a file with stray CRLFs elsewhere keeps LF in
// the table and a CRLF file stays CRLF.
func RewriteDocsTable(content []byte, rows []matrix.Row) ([]byte, error) {
	start, end, err := matrix.DocsRegion(content)
	if err != nil {
		return nil, err
	}
	// Each marker is alone on its line, so the table is the whole lines
	// from the one after the start marker's to the one before the end
	// marker's: bodyStart is just past the start marker line's newline,
	// bodyEnd the first byte of the end marker's line.
	nl := bytes.IndexByte(content[start:], '\n')
	eol := "\n"
	if nl > 0 && content[start+nl-1] == '\r' {
		eol = "\r\n"
	}
	bodyStart := start + nl + 1
	bodyEnd := bytes.LastIndexByte(content[:end], '\n') + 1
	lines := splitLines(content[bodyStart:bodyEnd])

	// Blank lines just inside the markers stay as they are.
	first, last := 0, len(lines)
	for first < last && isBlank(lines[first]) {
		first++
	}
	for last > first && isBlank(lines[last-1]) {
		last--
	}

	pending := make([]matrix.Row, len(rows))
	for i, r := range rows {
		if r.Provider == "" {
			r.Provider = matrix.DisplayName(r.Key)
		}
		pending[i] = r
	}
	used := make([]bool, len(pending))

	var out bytes.Buffer
	out.Grow(len(content) + 128*len(rows))
	out.Write(content[:bodyStart])
	for _, l := range lines[:first] {
		out.Write(l)
	}
	out.WriteString(strings.ReplaceAll(matrix.Header(), "\n", eol))
	table := lines[first:last]
	for i, l := range table {
		switch {
		case isSeparator(l), i+1 < len(table) && isSeparator(table[i+1]), isHeader(l):
			// The header and its separator, written afresh above.
		case !isTableLine(l):
			// Not part of a table: the region holds the table only.
		default:
			if j := rowFor(providerCell(l), pending, used); j >= 0 {
				used[j] = true
				out.WriteString(strings.TrimSuffix(pending[j].Markdown(), "\n") + eol)
				continue
			}
			out.Write(l) // every body line ends in a newline: the end marker's line follows
		}
	}
	for j, r := range pending {
		if !used[j] {
			out.WriteString(strings.TrimSuffix(r.Markdown(), "\n") + eol)
		}
	}
	for _, l := range lines[last:] {
		out.Write(l)
	}
	out.Write(content[bodyEnd:])
	return out.Bytes(), nil
}

// rowFor finds the row a table line's Provider cell stands for: the first
// unused row rendering that provider, else the first whose key's display
// name it is (a row the leg named otherwise since). -1 when none.
func rowFor(cell string, rows []matrix.Row, used []bool) int {
	if cell == "" {
		return -1
	}
	for _, byName := range []bool{false, true} {
		for j, r := range rows {
			name := r.Provider
			if byName {
				name = matrix.DisplayName(r.Key)
			}
			if !used[j] && matrix.Escape(name) == cell {
				return j
			}
		}
	}
	return -1
}

// providerCell is a table line's first cell as written, trimmed: the text
// up to the first pipe that is not escaped.
func providerCell(line []byte) string {
	s := strings.TrimSpace(string(line))
	s = strings.TrimPrefix(s, "|")
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // skip what is escaped
		case '|':
			return strings.TrimSpace(s[:i])
		}
	}
	return strings.TrimSpace(s)
}

// splitLines cuts b into lines, each with its line ending; the last may
// have none.
func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n') + 1
		if i == 0 {
			i = len(b)
		}
		lines = append(lines, b[:i])
		b = b[i:]
	}
	return lines
}

// isHeader reports whether line is this table's header line (without the
// separator under it, it would otherwise read as a row named "Provider").
func isHeader(line []byte) bool {
	header, _, _ := strings.Cut(matrix.Header(), "\n")
	return string(bytes.TrimSpace(line)) == header
}

func isBlank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

func isTableLine(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(line), []byte("|"))
}

// isSeparator reports whether line is a table's header separator
// ("|---|:--:|").
func isSeparator(line []byte) bool {
	s := bytes.TrimSpace(line)
	return bytes.HasPrefix(s, []byte("|")) && bytes.Contains(s, []byte("-")) &&
		len(bytes.Trim(s, "|-: \t")) == 0
}
