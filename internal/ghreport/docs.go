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

// RewriteDocsTable replaces what lies between the markers with the matrix
// table and keeps every other byte of the file, including the whitespace
// just inside the markers and the file's line endings, so a workflow can
// commit the result and the diff shows only the table.
func RewriteDocsTable(content []byte, rows []matrix.Row) ([]byte, error) {
	start, end, err := matrix.DocsRegion(content)
	if err != nil {
		return nil, err
	}
	inner := content[start:end]
	lead := inner[:len(inner)-len(bytes.TrimLeft(inner, " \t\r\n"))]
	trail := inner[len(bytes.TrimRight(inner, " \t\r\n")):]
	if len(bytes.TrimSpace(inner)) == 0 {
		// Nothing between the markers yet: the table goes on its own lines.
		lead, trail = []byte("\n"), []byte("\n")
	}
	table := strings.TrimSuffix(matrix.Table(rows), "\n")
	if bytes.Contains(content, []byte("\r\n")) {
		table = strings.ReplaceAll(table, "\n", "\r\n")
		if string(lead) == "\n" && string(trail) == "\n" {
			lead, trail = []byte("\r\n"), []byte("\r\n")
		}
	}
	var out bytes.Buffer
	out.Grow(len(content) + len(table))
	out.Write(content[:start])
	out.Write(lead)
	out.WriteString(table)
	out.Write(trail)
	out.Write(content[end:])
	return out.Bytes(), nil
}
