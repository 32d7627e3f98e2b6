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
// that is the leg of a row of rows is rewritten in its place. Every other
// row of the table (a leg this run did not report on, a provider that maps
// to no row) stays exactly as it was, line ending included, in its place:
// the file is the matrix's memory, and a run of some legs must not erase
// the others. Rows with no line in the table yet are added at its end, in
// the order given.
//
// Which line is which leg's, the rewrite writes down in the rows line
// (matrix.DocsRows), first between the markers: each row's key and the
// Provider cell it was written with. The Provider cell alone cannot say
// it: a leg's display input may rename its row from one run to the next,
// and a report that knows a leg only from its status or not at all (a
// push to the default branch has no comment with the legs' own rows) names
// it by its key's display name. So the rows line comes first; names are
// the fallback, for a table written by hand or before the rows line was:
//  0. a key the rows line lists takes the first line whose Provider cell
//     is the cell listed for it (pairs taken in order, so of two lines
//     with one name each key gets its own). Such a line is that leg's even
//     when this run has no row for it: no other row may take it by name;
//  1. a row still without a line takes the first line left whose Provider
//     cell is its provider (a cell that is one link, "[AWS](url to a
//     run)", as tables written by hand have it, is named by its text here
//     and in the passes below);
//  2. a row still without a line, whose provider no line left names at
//     all, takes the first line left whose Provider cell is its key's
//     display name (the leg renamed the row since: "AWS" became
//     "AWS (c8i)");
//  3. likewise, a row of a lane the seed document names by its provider
//     alone takes the first line left with that name (see seedNames).
//
// A line stands for one row at most and a row takes one line at most: of
// two lines for one provider the first is rewritten, the other kept as it
// is. Which line is a row's is decided over the whole table, not line by
// line, so an earlier line cannot take a row whose own line comes later.
//
// A row that stands in for a leg (rebuilt from its status, or a
// placeholder for a leg that did not report) knows the leg's key but not
// the name its display input gave it: written into the leg's line, it
// keeps the line's Provider cell. A leg's own row names itself.
//
// What lies between the markers is the table's (matrix.DocsRegion refuses
// other text, and a malformed rows line): blank lines just inside the
// markers are kept, blank lines within the table are dropped (in markdown
// they would end it), and the rows line and the header are written afresh.
// A table line is any line with an unescaped pipe, with or without pipes
// at its ends. The lines written take the line ending of the start
// marker's line, so a file with stray CRLFs elsewhere keeps LF in the
// table and a CRLF file stays CRLF.
func RewriteDocsTable(content []byte, rows []matrix.Row) ([]byte, error) {
	out, _, err := rewriteDocs(content, rows, nil)
	return out, err
}

// rewriteDocs is RewriteDocsTable, but a row of rows for which keep is
// true does not replace the line the table already has for its leg: that
// line stays byte for byte, still counted as the leg's (the rows line
// lists it), so no other row takes it by name. kept lists the keys of such
// rows, in table order. A kept row with no line in the table yet is
// written like any other. keep may be nil: no row is kept.
//
// Report keeps this way the rows of legs with no result this run: the
// file is the matrix's memory, and a leg skipped this run (no secrets for
// its provider) must not turn the last verification it recorded into ?.
func rewriteDocs(content []byte, rows []matrix.Row, keep func(matrix.Row) bool) (_ []byte, kept []string, _ error) {
	start, end, err := matrix.DocsRegion(content)
	if err != nil {
		return nil, nil, err
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

	// Blank lines just inside the markers stay as they are; so do those
	// between the rows line and the table.
	first, last := 0, len(lines)
	for first < last && isBlank(lines[first]) {
		first++
	}
	rowsLineAt := -1
	var owners []matrix.RowLine
	if first < last && matrix.IsRowsLine(string(lines[first])) {
		rowsLineAt = first
		if owners, err = matrix.ParseRowsLine(string(lines[first])); err != nil {
			return nil, nil, err // DocsRegion refused it already
		}
		first++
		for first < last && isBlank(lines[first]) {
			first++
		}
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
	rowOf, ownerOf := assignRows(cells, kinds, pending, owners)

	// The table, and what the rows line will say of it.
	var body bytes.Buffer
	var written []matrix.RowLine
	body.WriteString(strings.ReplaceAll(matrix.Header(), "\n", eol))
	used := make([]bool, len(pending))
	writeRow := func(r matrix.Row, keepCell string) {
		line := strings.TrimSuffix(r.Markdown(), "\n")
		if standIn(r) && keepCell != "" {
			line = withProviderCell(line, r, keepCell)
		}
		body.WriteString(line + eol)
		if c, _ := matrix.TableCells(line); len(c) > 0 {
			written = append(written, matrix.RowLine{Key: r.Key, Cell: c[0]})
		}
	}
	for i, l := range table {
		switch {
		case kinds[i] == headerLine, kinds[i] == blankLine:
		case rowOf[i] >= 0 && keep != nil && keep(pending[rowOf[i]]):
			used[rowOf[i]] = true
			kept = append(kept, pending[rowOf[i]].Key)
			body.Write(l)
			written = append(written, matrix.RowLine{Key: ownerOf[i], Cell: cells[i]})
		case rowOf[i] >= 0:
			used[rowOf[i]] = true
			writeRow(pending[rowOf[i]], cells[i])
		default:
			body.Write(l) // every body line ends in a newline: the end marker's line follows
			if ownerOf[i] != "" {
				written = append(written, matrix.RowLine{Key: ownerOf[i], Cell: cells[i]})
			}
		}
	}
	for j, r := range pending {
		if !used[j] {
			writeRow(r, "")
		}
	}

	var out bytes.Buffer
	out.Grow(len(content) + 128*len(rows))
	out.Write(content[:bodyStart])
	rowsLine := matrix.FormatRowsLine(written) + eol
	if rowsLineAt < 0 {
		// The first rewrite: the rows line goes right after the start
		// marker, before any blank lines that were there.
		out.WriteString(rowsLine)
		for _, l := range lines[:first] {
			out.Write(l)
		}
	} else {
		for _, l := range lines[:rowsLineAt] {
			out.Write(l)
		}
		out.WriteString(rowsLine)
		for _, l := range lines[rowsLineAt+1 : first] {
			out.Write(l)
		}
	}
	out.Write(body.Bytes())
	for _, l := range lines[last:] {
		out.Write(l)
	}
	out.Write(content[bodyEnd:])
	return out.Bytes(), kept, nil
}

// standIn reports whether r stands in for its leg (a row rebuilt from the
// leg's status, a placeholder) rather than being the leg's own: such a row
// names the leg by its key's display name, not knowing its display input.
func standIn(r matrix.Row) bool {
	return r.Source == matrix.FromStatus || r.Source == matrix.Placeholder
}

// withProviderCell puts cell, as written, in the Provider cell of line,
// r's markdown.
func withProviderCell(line string, r matrix.Row, cell string) string {
	prefix := "| " + matrix.Escape(r.Provider) + " |"
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return line
	}
	return "| " + cell + " |" + rest
}

type lineKind int

const (
	rowLine lineKind = iota
	headerLine
	blankLine
	otherLine
)

// seedNames are the lanes the seed document names by their provider
// alone: its Hetzner row is the no-KVM lane ("Runs the no-KVM lane only":
// Hetzner Cloud has no KVM tier), whose key is hetzner-no-kvm and whose
// display name is "Hetzner (no-kvm)". So in a table without a rows line,
// a hetzner-no-kvm row takes the "Hetzner" line rather than leaving it
// stale beside a new one, unless a hetzner row (which takes it by its
// display name first) or the rows line says it is another leg's. Other
// providers' -no-kvm lanes are not their provider's row: "AWS" is the
// KVM lane's.
var seedNames = map[string]string{"hetzner-no-kvm": "Hetzner"}

// assignRows decides which row of rows each table line stands for (rowOf,
// -1: none, the line is kept) and whose leg each line is (ownerOf, "":
// unknown), in the passes RewriteDocsTable describes. Lines are taken in
// table order, so the outcome depends on the file and rows alone.
func assignRows(cells []string, kinds []lineKind, rows []matrix.Row, owners []matrix.RowLine) (rowOf []int, ownerOf []string) {
	rowOf = make([]int, len(cells))
	ownerOf = make([]string, len(cells))
	for i := range rowOf {
		rowOf[i] = -1
	}
	matched := make([]bool, len(rows))
	free := func(i int) bool { return kinds[i] == rowLine && ownerOf[i] == "" && cells[i] != "" }
	rowFor := func(key string) int {
		for j, r := range rows {
			if r.Key == key && !matched[j] {
				return j
			}
		}
		return -1
	}
	// 0: the rows line.
	for _, o := range owners {
		for i, c := range cells {
			if free(i) && c == o.Cell {
				ownerOf[i] = o.Key
				if j := rowFor(o.Key); j >= 0 {
					rowOf[i], matched[j] = j, true
				}
				break
			}
		}
	}
	// 1-3: names, over the lines no leg owns. A line's name is its
	// Provider cell's text, a link's text when the cell is a link (a hand
	// written table often links the provider to its run).
	names := make([]string, len(cells))
	named := map[string]bool{}
	for i, c := range cells {
		names[i] = linkText(c)
		if free(i) {
			named[names[i]] = true
		}
	}
	take := func(j int, cell string) {
		for i, c := range names {
			if free(i) && c == cell {
				rowOf[i], ownerOf[i], matched[j] = j, rows[j].Key, true
				return
			}
		}
	}
	for j, r := range rows {
		if !matched[j] {
			take(j, matrix.Escape(r.Provider))
		}
	}
	for j, r := range rows {
		if !matched[j] && !named[matrix.Escape(r.Provider)] {
			take(j, matrix.Escape(matrix.DisplayName(r.Key)))
		}
	}
	for j, r := range rows {
		if name, ok := seedNames[r.Key]; ok && !matched[j] && !named[matrix.Escape(r.Provider)] {
			take(j, matrix.Escape(name))
		}
	}
	return rowOf, ownerOf
}

// linkText is the text of cell (as written, escapes kept) when the cell
// is one markdown link, "[AWS](https://…)", and cell itself otherwise. The
// text ends at the first unescaped "]", which must open the link's
// destination, running to the cell's end: "[a](x) and [b](y)" is not one
// link.
func linkText(cell string) string {
	if !strings.HasPrefix(cell, "[") || !strings.HasSuffix(cell, ")") {
		return cell
	}
	for i := 1; i < len(cell); i++ {
		switch cell[i] {
		case '\\':
			i++ // an escaped character is text
		case '[':
			return cell // a nested bracket: not a plain link
		case ']':
			dest, ok := strings.CutPrefix(cell[i+1:], "(")
			if !ok || i == 1 || strings.ContainsAny(dest[:len(dest)-1], "()") {
				return cell
			}
			return strings.TrimSpace(cell[1:i])
		}
	}
	return cell
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
