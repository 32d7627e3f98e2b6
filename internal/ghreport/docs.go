package ghreport

import (
	"bytes"
	"slices"
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
// stands for a row of rows when its Provider cell is that row's provider:
// it is rewritten in its place. Every other row of the table (a leg this
// run did not report on, a provider that maps to no row) stays exactly as
// it was, line ending included, in its place: the file is the matrix's
// memory, and a run of some legs must not erase the others. Rows with no
// line in the table yet are added at its end, in the order given.
//
// Which line is a row's is decided over the whole table, not line by line,
// so an earlier line cannot take a row whose own line comes later:
//  1. a row takes the first line whose Provider cell is its provider;
//  2. a row still without a line, whose provider no line of the table
//     names at all, takes the first line left whose Provider cell is its
//     key's display name (the leg renamed the row since: "AWS" became
//     "AWS (c8i)").
//
// A line stands for one row at most and a row takes one line at most: of
// two lines for one provider the first is rewritten, the other kept as it
// is.
//
// What lies between the markers is the table's (matrix.DocsRegion refuses
// other text): blank lines just inside the markers are kept, blank lines
// within the table are dropped (in markdown they would end it), and the
// header is written afresh. A table line is any line with an unescaped
// pipe, with or without pipes at its ends. The lines written take the line
// ending of the start marker's line, so a file with stray CRLFs elsewhere
// keeps LF in the table and a CRLF file stays CRLF.
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

	// Sort the table's lines: the header and its separator (written
	// afresh), blank lines (dropped), and rows, each with its Provider cell.
	table := lines[first:last]
	kinds := make([]lineKind, len(table))
	cells := make([]string, len(table))
	for i, l := range table {
		c, ok := matrix.TableCells(string(l))
		switch {
		case isBlank(l):
			kinds[i] = blankLine
		case !ok:
			// DocsRegion refused such text; should one get here, it is
			// kept rather than lost.
			kinds[i] = otherLine
		case isSeparator(c), isHeader(c):
			kinds[i] = headerLine
		case i+1 < len(table) && isSeparatorLine(table[i+1]):
			kinds[i] = headerLine
		default:
			kinds[i] = rowLine
			if len(c) > 0 {
				cells[i] = c[0]
			}
		}
	}
	rowOf := assignRows(cells, kinds, pending)

	var out bytes.Buffer
	out.Grow(len(content) + 128*len(rows))
	out.Write(content[:bodyStart])
	for _, l := range lines[:first] {
		out.Write(l)
	}
	out.WriteString(strings.ReplaceAll(matrix.Header(), "\n", eol))
	used := make([]bool, len(pending))
	for i, l := range table {
		switch {
		case kinds[i] == headerLine, kinds[i] == blankLine:
		case rowOf[i] >= 0:
			used[rowOf[i]] = true
			out.WriteString(strings.TrimSuffix(pending[rowOf[i]].Markdown(), "\n") + eol)
		default:
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

type lineKind int

const (
	rowLine lineKind = iota
	headerLine
	blankLine
	otherLine
)

// assignRows decides which row of rows each table line stands for (-1:
// none, the line is kept): first every exact Provider match over the whole
// table, then the display-name fallback for the rows left, each only if no
// line names the row's provider. Lines are taken in table order, so the
// outcome depends on the file and rows alone.
func assignRows(cells []string, kinds []lineKind, rows []matrix.Row) []int {
	rowOf := make([]int, len(cells))
	for i := range rowOf {
		rowOf[i] = -1
	}
	named := map[string]bool{}
	for i, c := range cells {
		if kinds[i] == rowLine && c != "" {
			named[c] = true
		}
	}
	matched := make([]bool, len(rows))
	take := func(j int, cell string) {
		for i, c := range cells {
			if kinds[i] == rowLine && rowOf[i] < 0 && c != "" && c == cell {
				rowOf[i], matched[j] = j, true
				return
			}
		}
	}
	for j, r := range rows {
		take(j, matrix.Escape(r.Provider))
	}
	for j, r := range rows {
		if !matched[j] && !named[matrix.Escape(r.Provider)] {
			take(j, matrix.Escape(matrix.DisplayName(r.Key)))
		}
	}
	return rowOf
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

// isHeader reports whether cells are this table's header's (without the
// separator under it, it would otherwise read as a row named "Provider").
func isHeader(cells []string) bool {
	header, _, _ := strings.Cut(matrix.Header(), "\n")
	want, _ := matrix.TableCells(header)
	return slices.Equal(cells, want)
}

func isBlank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

// isSeparator reports whether cells are a table's header separator's
// ("|---|:--:|", or "--- | :-:" without the outer pipes): each cell dashes
// with an optional colon at either end.
func isSeparator(cells []string) bool {
	for _, c := range cells {
		c = strings.TrimSuffix(strings.TrimPrefix(c, ":"), ":")
		if c == "" || strings.Trim(c, "-") != "" {
			return false
		}
	}
	return len(cells) > 0
}

func isSeparatorLine(line []byte) bool {
	cells, ok := matrix.TableCells(string(line))
	return ok && isSeparator(cells)
}
