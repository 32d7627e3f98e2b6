package ghreport

import (
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// ContextPrefix starts every commit status context: "mvm-verify/<row key>".
const ContextPrefix = "mvm-verify/"

// maxDescription keeps a status description under GitHub's 140 characters.
const maxDescription = 139

// Commit status states.
const (
	statePending = "pending"
	stateSuccess = "success"
	stateFailure = "failure"
	stateError   = "error"
)

// StatusState is the commit status a row stands for: failure when any cell
// failed, pending while any cell is pending, failure when a check was not
// run (— : running 0 tests is never a pass, so the leg is incomplete),
// success otherwise.
func StatusState(row matrix.Row) string {
	switch {
	case row.Has(matrix.Fail):
		return stateFailure
	case row.Has(matrix.Pending):
		return statePending
	case row.Has(matrix.NotRun):
		return stateFailure
	}
	return stateSuccess
}

// cellSep separates the parts of a status description.
const cellSep = " · "

// Describe is the row as a status description, under 140 characters:
// "✅ Preflight · ❌ Live cycle · ? Seccomp probe · <notes>". It is meant to
// be read by people and parsed back by rowFromStatus, so a row whose comment
// entry was lost can be rebuilt from its status.
func Describe(row matrix.Row) string {
	parts := make([]string, 0, len(matrix.Columns())+1)
	for _, c := range matrix.Columns() {
		parts = append(parts, row.Cell(c).Status.Symbol()+" "+string(c))
	}
	desc := strings.Join(parts, cellSep)
	notes := strings.Join(strings.Fields(row.Notes), " ")
	if notes == "" {
		return desc
	}
	// GitHub may count UTF-16 units: cut until that count fits too.
	for room := maxDescription - utf8.RuneCountInString(desc+cellSep); room > 1; room-- {
		if d := desc + cellSep + matrix.Truncate(notes, room); len(utf16.Encode([]rune(d))) <= maxDescription {
			return d
		}
	}
	return desc
}

// statusOf maps a cell symbol back to its status.
func statusOf(symbol string) (matrix.Status, bool) {
	for _, s := range []matrix.Status{matrix.Pass, matrix.Fail, matrix.Pending, matrix.NA, matrix.NotRun, matrix.Unknown} {
		if s.Symbol() == symbol {
			return s, true
		}
	}
	return "", false
}

// remoteStatus is the part of a commit status the reporting reads.
type remoteStatus struct {
	Key, State, Description, TargetURL string
	UpdatedAt                          time.Time
}

// rowFromStatus rebuilds a row from the leg's status: the cells parsed from
// a description Describe wrote, else only the live cycle from the state.
func rowFromStatus(st remoteStatus, headSHA string) matrix.Row {
	row := matrix.Row{
		Key: st.Key, Provider: matrix.DisplayName(st.Key), HeadSHA: headSHA, JobURL: st.TargetURL,
		UpdatedAt: st.UpdatedAt, Source: matrix.FromStatus,
	}
	parts := strings.Split(st.Description, cellSep)
	parsed := len(parts) >= len(matrix.Columns())
	for i, c := range matrix.Columns() {
		if !parsed {
			break
		}
		sym, name, ok := strings.Cut(parts[i], " ")
		status, known := statusOf(sym)
		if !ok || !known || name != string(c) {
			parsed = false
			break
		}
		row.Set(c, status, "")
	}
	if parsed {
		row.Notes = strings.Join(parts[len(matrix.Columns()):], cellSep)
		if row.Cell(matrix.LiveCycle).Status == matrix.Pass && st.State == stateSuccess && !st.UpdatedAt.IsZero() {
			// The description has no room for the cell's words; the
			// day it was verified is the day its status was set.
			row.Set(matrix.LiveCycle, matrix.Pass, "verified "+st.UpdatedAt.UTC().Format("2006-01-02"))
		}
		return row
	}
	row.Cells = nil
	row.Notes = st.Description
	switch st.State {
	case statePending:
		row.Set(matrix.LiveCycle, matrix.Pending, "")
	case stateSuccess:
		row.Set(matrix.LiveCycle, matrix.Pass, "")
	default:
		row.Set(matrix.LiveCycle, matrix.Fail, "")
	}
	return row
}

// disagrees reports whether a row in the comment contradicts its leg's
// finished status: the status says the leg ended one way while the row
// stands for another (a leg still running, or another verdict). That is the
// trace of a lost update (a late writer put back an older row) or of a
// tampered row, so the row is rebuilt from the status, which only the legs
// can write (one context per leg). Comparing the states the two stand for,
// not single cells, keeps a row and a status made from the same row (a
// failure with a cell still ⏳) in agreement; a pending status says nothing
// final, so it never overrides a row.
func disagrees(row matrix.Row, st remoteStatus) bool {
	want := st.State
	switch want {
	case statePending:
		return false
	case stateError:
		want = stateFailure
	}
	return StatusState(row) != want
}

// reconcile adds a row for every leg that has a status but no row, and
// rebuilds rows that disagree with their finished status. It reports whether anything changed.
// Statuses are conflict-free (one context per leg), so they are the record
// that lets any writer restore a row another writer's stale write dropped.
func reconcile(rows []matrix.Row, statuses []remoteStatus, headSHA string) ([]matrix.Row, bool) {
	changed := false
	for _, st := range statuses {
		i := indexOf(rows, st.Key)
		switch {
		case i < 0:
			rows = append(rows, rowFromStatus(st, headSHA))
			changed = true
		case !matrix.IsCurrent(rows[i], headSHA) || disagrees(rows[i], st):
			rows[i] = rowFromStatus(st, headSHA)
			changed = true
		}
	}
	if changed {
		matrix.Sort(rows, nil)
	}
	return rows, changed
}

func indexOf(rows []matrix.Row, key string) int {
	for i, r := range rows {
		if r.Key == key {
			return i
		}
	}
	return -1
}
