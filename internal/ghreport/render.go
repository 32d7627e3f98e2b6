package ghreport

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// Marker starts the sticky comment; the comment is found by it.
const Marker = "<!-- mvm-verify:matrix -->"

// maxCommentBytes keeps a comment under GitHub's 65,536 characters with room
// to spare (a byte count bounds the character count from above).
const maxCommentBytes = 65000

// CommentBody renders the sticky comment: marker, table, a line with the
// date and head commit, and the rows as hidden state. The table shows at
// most 300 characters of a row's notes, to stay readable; the hidden state
// keeps them whole while the body fits GitHub's limit. Past it, notes are
// cut until the body fits, in the state too, each cut ending in cutMark:
// the report job (which builds its summary, matrix.json and docs table
// from that state) then has them cut as well, and only the leg's own job
// summary, which the row links, has them whole. A note cut once stays cut:
// the state no longer holds its whole text.
func CommentBody(st matrix.State) (string, error) {
	// Note lengths tried, longest first: shown in the table, kept in the
	// hidden state.
	noteCaps := []struct{ table, state int }{{300, math.MaxInt}, {300, 2000}, {300, 500}, {120, 200}, {60, 60}, {0, 0}}
	for _, caps := range noteCaps {
		body, err := commentBody(st, caps.table, caps.state)
		if err != nil {
			return "", err
		}
		if len(body) <= maxCommentBytes {
			return body, nil
		}
	}
	return "", fmt.Errorf("matrix comment: %d rows do not fit in %d bytes even without notes", len(st.Rows), maxCommentBytes)
}

func commentBody(st matrix.State, tableCap, stateCap int) (string, error) {
	kept := make([]matrix.Row, len(st.Rows))
	shown := quiet(st.Rows)
	for i, r := range st.Rows {
		r.Notes = cutNotes(r.Notes, stateCap)
		kept[i] = r
		shown[i].Notes = cutNotes(shown[i].Notes, tableCap)
	}
	state, err := matrix.EncodeState(matrix.State{HeadSHA: st.HeadSHA, Rows: kept})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(Marker + "\n")
	b.WriteString("### mvm-verify: verification matrix\n\n")
	b.WriteString(matrix.TableWith(shown, matrix.TableOptions{HeadSHA: st.HeadSHA, LinkJobs: true}))
	b.WriteString("\n" + statusLine(st.Rows, st.HeadSHA) + "\n\n")
	b.WriteString(state + "\n")
	return b.String(), nil
}

// cutMark ends notes the comment had to cut. It says where the whole text
// is, since a reader of the comment, or of the report job's summary and
// files built from the comment's state, has only the cut notes: the leg's
// job summary, whose job the row's Provider cell links.
const cutMark = "… (cut: full notes in the leg's job summary)"

// cutNotes cuts notes to at most n characters (runes), ending in cutMark;
// n of 0 drops them. Notes cut before (an earlier write's state) are cut
// again from their text, so the mark is never doubled.
func cutNotes(notes string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(notes) <= n {
		return notes
	}
	text := []rune(strings.TrimSuffix(notes, cutMark))
	keep := n - utf8.RuneCountInString(cutMark)
	if keep < 1 {
		// Too short for the mark: the bare ellipsis still says it is cut.
		return matrix.Truncate(string(text), n)
	}
	return strings.TrimSpace(string(text[:min(keep, len(text))])) + cutMark
}

// Summary renders the matrix for the job summary: the full notes, no
// hidden state.
func Summary(rows []matrix.Row, headSHA string) string {
	var b strings.Builder
	b.WriteString("## mvm-verify: verification matrix\n\n")
	b.WriteString(matrix.TableWith(rows, matrix.TableOptions{HeadSHA: headSHA, LinkJobs: true}))
	b.WriteString("\n" + statusLine(rows, headSHA) + "\n")
	return b.String()
}

// statusLine says how many legs finished, for which commit, as of when. The
// time is the newest row's, so the comment only changes when a row does.
func statusLine(rows []matrix.Row, headSHA string) string {
	var finished, running, unknown int
	var latest time.Time
	for _, r := range rows {
		if r.UpdatedAt.After(latest) {
			latest = r.UpdatedAt
		}
		switch {
		case !matrix.IsCurrent(r, headSHA) || r.Source == matrix.Placeholder:
			unknown++
		case r.Has(matrix.Pending):
			running++
		default:
			finished++
		}
	}
	parts := []string{fmt.Sprintf("%d of %d legs finished", finished, len(rows))}
	if running > 0 {
		parts = append(parts, fmt.Sprintf("%d running ⏳", running))
	}
	if unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d without a result ?", unknown))
	}
	line := strings.Join(parts, ", ")
	if headSHA != "" {
		line += " · head `" + matrix.ShortSHA(headSHA) + "`"
	}
	if !latest.IsZero() {
		line += " · updated " + latest.UTC().Format("2006-01-02 15:04 MST")
	}
	return line
}

// quiet keeps text from legs from pinging people: an "@name" in a comment
// notifies name, so the at sign goes in as an entity, which renders the
// same and mentions no one.
func quiet(rows []matrix.Row) []matrix.Row {
	out := make([]matrix.Row, len(rows))
	at := strings.NewReplacer("@", "&#64;")
	for i, r := range rows {
		r.Provider = at.Replace(r.Provider)
		r.Notes = at.Replace(r.Notes)
		cells := make(map[matrix.Column]matrix.Cell, len(r.Cells))
		for c, cell := range r.Cells {
			cell.Text = at.Replace(cell.Text)
			cells[c] = cell
		}
		r.Cells = cells
		out[i] = r
	}
	return out
}
