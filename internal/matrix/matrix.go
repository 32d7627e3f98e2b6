// Package matrix is the verification matrix: one Row per provider lane, the
// seed document's columns, and its markdown. It imports nothing of ours so the
// cycle, the GitHub reporting and the docs table all share it.
package matrix

import (
	"slices"
	"strings"
	"time"
)

// Status is the state of one cell.
type Status string

const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Pending Status = "pending"
	NA      Status = "n/a"
	NotRun  Status = "not-run"
	Unknown Status = "unknown"
)

// Symbol is how the status reads in the table.
func (s Status) Symbol() string {
	switch s {
	case Pass:
		return "✅"
	case Fail:
		return "❌"
	case Pending:
		return "⏳"
	case NA:
		return "n/a"
	case NotRun:
		return "—"
	}
	return "?"
}

// Column names a matrix column. The order of Columns() is the table's order.
type Column string

const (
	Preflight    Column = "Preflight"
	LiveCycle    Column = "Live cycle"
	SeccompProbe Column = "Seccomp probe"
)

// columns are the status columns, in order; Provider comes first and Notes last.
var columns = [...]Column{Preflight, LiveCycle, SeccompProbe}

// Columns returns the status columns, in order; Provider comes first and
// Notes last. The slice is the caller's own: changing it changes no table.
func Columns() []Column { return slices.Clone(columns[:]) }

// Cell is one status with optional words after the symbol ("verified 2026-05-06").
type Cell struct {
	Status Status `json:"status"`
	Text   string `json:"text,omitempty"`
}

// String renders the cell: the symbol, then the text if any.
func (c Cell) String() string {
	if c.Status == "" {
		c.Status = Unknown
	}
	if c.Text == "" {
		return c.Status.Symbol()
	}
	return c.Status.Symbol() + " " + c.Text
}

// Row is one leg of the matrix.
type Row struct {
	// Key identifies the row ("aws", "hetzner-no-kvm"); rows merge by key.
	Key string `json:"key"`
	// Provider is the display name ("AWS", "Latitude.sh").
	Provider string `json:"provider"`
	Lane     string `json:"lane,omitempty"`
	// Cells by column; a missing column reads Unknown.
	Cells map[Column]Cell `json:"cells"`
	// Notes: cost / duration / type, the first failure, the lane.
	Notes     string    `json:"notes,omitempty"`
	HeadSHA   string    `json:"head_sha,omitempty"`
	JobURL    string    `json:"job_url,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Source says who wrote the row: the leg itself (empty), or a stand-in
	// rebuilt from the leg's commit status or put in for a leg that never
	// reported. A leg's own row always beats a stand-in when rows merge.
	Source Source `json:"source,omitempty"`
}

// Source is where a row came from.
type Source string

const (
	// FromLeg is a row written by its own leg: the full picture.
	FromLeg Source = ""
	// FromStatus is a row rebuilt from the leg's commit status description,
	// used when the leg's own row was lost or is behind its status.
	FromStatus Source = "status"
	// Placeholder stands for an expected leg nothing is known about.
	Placeholder Source = "placeholder"
)

// rank orders sources: a leg's own row outranks a rebuilt one, which
// outranks a placeholder.
func (s Source) rank() int {
	switch s {
	case FromLeg:
		return 2
	case FromStatus:
		return 1
	}
	return 0
}

// Has reports whether any cell of the row has the status.
func (r Row) Has(s Status) bool {
	for _, c := range r.Cells {
		if c.Status == s {
			return true
		}
	}
	return false
}

// Cell returns the row's cell for c, Unknown when absent.
func (r Row) Cell(c Column) Cell {
	if cell, ok := r.Cells[c]; ok {
		return cell
	}
	return Cell{Status: Unknown}
}

// Set sets one cell.
func (r *Row) Set(c Column, status Status, text string) {
	if r.Cells == nil {
		r.Cells = map[Column]Cell{}
	}
	r.Cells[c] = Cell{Status: status, Text: text}
}

// Header is the table's header and separator lines.
func Header() string {
	var b strings.Builder
	b.WriteString("| Provider |")
	for _, c := range columns {
		b.WriteString(" " + string(c) + " |")
	}
	b.WriteString(" Notes |\n|---|")
	for range columns {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	return b.String()
}

// Markdown renders the row as one table line (with its newline). Text from
// outside (notes, step output) is escaped so it cannot break the table or
// inject HTML.
func (r Row) Markdown() string {
	var b strings.Builder
	b.WriteString("| " + Escape(r.Provider) + " |")
	for _, c := range columns {
		b.WriteString(" " + Escape(r.Cell(c).String()) + " |")
	}
	b.WriteString(" " + Escape(r.Notes) + " |\n")
	return b.String()
}

// Table renders a header and the rows.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString(Header())
	for _, r := range rows {
		b.WriteString(r.Markdown())
	}
	return b.String()
}

// Escape makes text safe inside a markdown table cell: pipes escaped, HTML
// angle brackets and newlines neutralised, and link and image syntax
// (brackets, the bang of an image) and autolinks ("https://", "www.")
// escaped, so step output cannot put an image (a tracking pixel) or a
// disguised link into a PR comment. Backticks are escaped too: step output
// often quotes values in them, and a code span shows its text verbatim, so
// every other escape here would show up in it literally (&lt;nil&gt;, C:\\x).
//
// GitHub finds mentions (@name), issue references (#123, owner/repo#123,
// GH-123) and commit references (owner/repo@sha) in the rendered text, after
// markdown has read its escapes and entities: a backslash or an entity
// ("&#64;") there still mentions, and a reference adds a "mentioned this"
// entry to that timeline, in this repository or another. So a zero
// width space goes between the sign and what follows (as the entity
// &#8203;, visible in the file): the text reads the same and matches none
// of them. An ampersand is escaped (&amp;) for the same reason, so that no
// entity in step output turns into one of these signs; the one exception
// is "&#64;", which the comment's rendering writes for an at sign and
// which is taken as one.
//
// GitHub's math, like its references, is found in the rendered text, so
// neither "\$" nor "&#36;" stops two dollar signs ("$HOME and $PATH") from
// rendering as math. GitHub's documented way is to put a dollar sign in a
// span of its own, where it cannot pair with another; each one is, when the
// text has two or more. A lone one (a cost, "$2.50") is left as it is, as
// the table reads best: math needs two, and a cell is text of its own that
// no other cell's joins (callers escape one cell's text at a time).
func Escape(s string) string {
	pairs := strings.Count(s, "$") > 1
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '|' || c == '[' || c == ']' || c == '!' || c == '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '<':
			b.WriteString("&lt;")
		case c == '>':
			b.WriteString("&gt;")
		case strings.HasPrefix(s[i:], atEntity):
			i += len(atEntity) - 1
			b.WriteByte('@')
			if alnumAt(s, i+1) {
				b.WriteString(zwsp)
			}
		case c == '&':
			b.WriteString("&amp;")
		case c == '@':
			b.WriteByte('@')
			if alnumAt(s, i+1) {
				b.WriteString(zwsp)
			}
		case c == '#' && digitAt(s, i+1):
			b.WriteString("#" + zwsp)
		case (c == 'G' || c == 'g') && len(s) > i+2 && (s[i+1] == 'H' || s[i+1] == 'h') && s[i+2] == '-' && digitAt(s, i+3):
			b.WriteString(s[i:i+3] + zwsp)
			i += 2
		case c == '$' && pairs:
			b.WriteString("<span>$</span>")
		// A backslash before the colon keeps GitHub's autolink extension
		// from seeing a scheme; before the dot, from seeing "www.".
		case strings.HasPrefix(s[i:], "://"):
			b.WriteString("\\://")
			i += 2
		case len(s) >= i+4 && strings.EqualFold(s[i:i+4], "www."):
			b.WriteString(s[i:i+3] + "\\.")
			i += 3
		case c == '\r' && strings.HasPrefix(s[i:], "\r\n"):
			b.WriteByte(' ')
			i++
		case c == '\n' || c == '\r':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

const (
	// zwsp is a zero width space, written as an entity so it shows in the
	// markdown.
	zwsp = "&#8203;"
	// atEntity is an at sign as the comment's rendering writes it.
	atEntity = "&#64;"
)

func digitAt(s string, i int) bool { return i < len(s) && '0' <= s[i] && s[i] <= '9' }

func alnumAt(s string, i int) bool {
	return digitAt(s, i) || i < len(s) && ('a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z')
}
