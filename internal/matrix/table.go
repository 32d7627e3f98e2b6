package matrix

import (
	"net/url"
	"strings"
)

// TableOptions shape a rendered table.
type TableOptions struct {
	// HeadSHA is the commit the table is about. Rows for another commit are
	// shown as unknown, with a note naming the commit they were for.
	HeadSHA string
	// NoteLimit cuts notes to this many characters; 0 keeps them whole.
	NoteLimit int
	// LinkJobs links the provider name to the row's job.
	LinkJobs bool
}

// TableWith renders a header and the rows as Table does, shaped by opts.
func TableWith(rows []Row, opts TableOptions) string {
	var b strings.Builder
	b.WriteString(Header())
	for _, r := range rows {
		b.WriteString(r.markdownWith(opts))
	}
	return b.String()
}

func (r Row) markdownWith(opts TableOptions) string {
	notes := r.Notes
	if !IsCurrent(r, opts.HeadSHA) {
		stale := Row{Key: r.Key, Provider: r.Provider}
		if r.HeadSHA != "" {
			notes = "no result yet for " + ShortSHA(opts.HeadSHA) + "; last reported for " + ShortSHA(r.HeadSHA)
		} else {
			notes = "no result yet for " + ShortSHA(opts.HeadSHA)
		}
		r = stale
	}
	if opts.NoteLimit > 0 {
		notes = Truncate(notes, opts.NoteLimit)
	}
	provider := Escape(r.Provider)
	if provider == "" {
		provider = Escape(DisplayName(r.Key))
	}
	if opts.LinkJobs && linkable(r.JobURL) {
		provider = "[" + provider + "](" + r.JobURL + ")"
	}
	var b strings.Builder
	b.WriteString("| " + provider + " |")
	for _, c := range columns {
		b.WriteString(" " + Escape(r.Cell(c).String()) + " |")
	}
	b.WriteString(" " + Escape(notes) + " |\n")
	return b.String()
}

// linkable accepts only plain http(s) URLs whose characters cannot end the
// markdown link or the table cell early.
func linkable(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return false
	}
	return !strings.ContainsAny(s, " \t\n\r|()<>[]\"'`\\")
}
