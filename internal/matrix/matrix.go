// Package matrix is the verification matrix: one Row per provider lane, the
// seed document's columns, and its markdown. It imports nothing of ours so the
// cycle, the GitHub reporting and the docs table all share it.
package matrix

import (
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

// Column names a matrix column. The order of Columns is the table's order.
type Column string

const (
	Preflight    Column = "Preflight"
	LiveCycle    Column = "Live cycle"
	SeccompProbe Column = "Seccomp probe"
)

// Columns are the status columns, in order; Provider comes first and Notes last.
var Columns = []Column{Preflight, LiveCycle, SeccompProbe}

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
	for _, c := range Columns {
		b.WriteString(" " + string(c) + " |")
	}
	b.WriteString(" Notes |\n|---|")
	for range Columns {
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
	for _, c := range Columns {
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
func Escape(s string) string {
	s = escaper.Replace(s)
	return strings.TrimSpace(s)
}

var escaper = strings.NewReplacer(
	"\\", "\\\\",
	"|", "\\|",
	"<", "&lt;",
	">", "&gt;",
	"[", "\\[",
	"]", "\\]",
	"!", "\\!",
	"`", "\\`",
	// A backslash before the colon keeps GitHub's autolink extension from
	// seeing a scheme; before the dot, from seeing "www.".
	"://", "\\://",
	"www.", "www\\.",
	"WWW.", "WWW\\.",
	"\r\n", " ",
	"\n", " ",
	"\r", " ",
)
