package ghreport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// Report is the aggregating job's step (mode: report, after every leg): it
// reads the legs' statuses and the comment's rows, adds a row for every
// expected key nothing is known about (without expected keys, legs that
// never reported go unseen, and a notice says so), writes the final
// comment, and rewrites the table in matrixFile when one is given. The rows it returns
// are the final matrix for head (Outcome.HeadSHA), in expectedKeys order:
// render them with Summary for the job summary, or as JSON.
//
// The head is the event's commit (Config.Event.HeadSHA: the run's own, or
// the one head-sha names); only when the event names none does the PR's
// current head stand in for it. When the PR has moved on to another head
// (a newer push, while this run was going), the event's commit is still
// the one reported, from its statuses, and the comment, which follows the
// PR's head, is left alone: that head's legs may still be running, and
// this report, which runs after this run's legs only, knows nothing of
// them. A notice says so.
//
// matrixFile is rewritten only when GitHub was actually read (the statuses
// at least): a report that learned nothing (no token, a refused token, a
// rate limit or server errors past the budget) would turn every row into ?
// and erase what the file knows, so the file is then left byte for byte as
// it was and the notice says so. The same holds when GitHub was read but
// told nothing: no leg reported for head and expectedKeys is empty.
// Otherwise only the rows this run has news of are written into the file's
// table (those about head, and every expected key); the file's other rows
// stay as they are (see RewriteDocsTable). An expected key with no result
// this run is ? in the returned rows and the comment, but in the file the
// line it already has stays byte for byte, the last result it recorded,
// and the notice names the key; only a key without a line gets a ? row
// there. Outcome.FileRewritten tells whether the file was written: it is
// not when every row it would get is such a kept one.
//
// GitHub trouble only degrades the Outcome; the error is for the docs file:
// an *InputError when it cannot be read or its table is refused (missing
// markers, text in the table), a plain one when writing it fails.
func (r *Reporter) Report(ctx context.Context, expectedKeys []string, matrixFile string) ([]matrix.Row, Outcome, error) {
	var out Outcome
	ctx = r.withBudget(ctx)
	g := gathered{head: r.cfg.Event.HeadSHA}
	var unknown headUnknown
	writeComment := true
	if r.cfg.Token == "" {
		out.note(true, "%s", r.disabled())
		writeComment = false
	} else if err := r.gather(ctx, &g); errors.As(err, &unknown) && g.head != "" {
		// Fail closed: the matrix is the event's commit's, from its
		// statuses, and the comment is left alone.
		writeComment = false
		out.note(true, "%v: the matrix is for %s from its statuses, and the comment was left alone", err, matrix.ShortSHA(g.head))
		if statuses, err := r.statuses(ctx, g.head); err != nil {
			r.degrade(&out, err)
		} else {
			g.rows, _ = reconcile(nil, statuses, g.head)
			g.read = true
		}
	} else if err != nil {
		writeComment = false
		r.degrade(&out, err)
	}
	head := g.head
	if head == "" && r.cfg.Token != "" {
		out.note(true, "%s", noCommit)
	}
	if g.prHead != "" && g.prHead != head {
		// The event's commit is not the PR's head: its matrix is
		// reported, and the comment, which follows the PR's head, is not
		// rewritten for another commit (as a superseded leg leaves it).
		writeComment = false
		if r.cfg.PinHead {
			out.note(false, "head-sha %s is not the head of pull request #%d (%s): the matrix is for %s from its statuses, and the comment, which follows the pull request's head, was left alone",
				matrix.ShortSHA(head), r.cfg.Event.PR, matrix.ShortSHA(g.prHead), matrix.ShortSHA(head))
		} else {
			out.note(false, "pull request #%d moved on to %s since this run's commit %s: the matrix is for %s from its statuses, and the comment, which follows the pull request's head, was left alone",
				r.cfg.Event.PR, matrix.ShortSHA(g.prHead), matrix.ShortSHA(head), matrix.ShortSHA(head))
		}
	}
	rows := g.rows
	// The keys this run has news of for the docs file: rows about head
	// (from its statuses, or the comment's rows for it), and every
	// expected key. An expected leg with no result this run (it never
	// reported: skipped for want of its provider's secrets, failed before
	// its first report) is ? in the comment and the summary, which are
	// about this commit; in the file, the matrix's memory, the line it
	// already has stays as it was (the last verification it recorded),
	// and only a leg without a line gets a ? row (see rewriteFile). The
	// comment's rows about another commit are not news: the file keeps
	// what it has for them.
	news := map[string]bool{}
	for _, r := range rows {
		if matrix.IsCurrent(r, head) {
			news[r.Key] = true
		}
	}
	expected := 0
	for _, key := range expectedKeys {
		if key == "" {
			continue
		}
		expected++
		news[key] = true
		if indexOf(rows, key) < 0 {
			rows = append(rows, placeholder(key, head, "no result from this leg"))
		}
	}
	if expected == 0 {
		// Nothing else says that a leg which failed or was cancelled
		// before its first report is missing: its row would just not be
		// there. The run's jobs do not tell the matrix's keys (a job's
		// name is the workflow's, and reading them needs actions: read),
		// so the workflow has to.
		out.note(false, "%s", NoExpectNotice)
	}
	rows = finalRows(rows, head)
	matrix.Sort(rows, expectedKeys)
	out.HeadSHA = head
	out.Read = g.read

	if r.cfg.Event.PR != 0 && writeComment && !r.cfg.SkipComment {
		if reason := cmp.Or(r.disabled(), r.commentDisabled()); reason != "" {
			if !out.Degraded {
				out.note(true, "%s", reason)
			}
		} else if u, err := r.publishFinal(ctx, rows, head, expectedKeys); errors.As(err, new(superseded)) {
			out.note(false, "%v: the matrix comment follows the newer head and was not rewritten for %s", err, matrix.ShortSHA(head))
		} else if err != nil {
			r.degradeComment(&out, err)
		} else {
			out.CommentURL = u
		}
	}

	if matrixFile == "" {
		return rows, out, nil
	}
	if !g.read {
		out.note(true, "nothing was read from GitHub, so %s was left as it was", matrixFile)
		return rows, out, nil
	}
	var fileRows []matrix.Row
	for _, r := range rows {
		if news[r.Key] {
			fileRows = append(fileRows, r)
		}
	}
	if len(fileRows) == 0 {
		// No leg reported for head and none is expected (every leg failed
		// before reporting, and the workflow names no expect): rewriting
		// would only tell the file nothing, so it stays as it was.
		out.note(false, "no leg reported for %s and expect names none, so %s was left as it was", matrix.ShortSHA(head), matrixFile)
		return rows, out, nil
	}
	changed, kept, err := rewriteFile(matrixFile, fileRows)
	if err != nil {
		return rows, out, err
	}
	if len(kept) > 0 {
		what := "row for " + kept[0]
		if len(kept) > 1 {
			what = "rows for " + strings.Join(kept, ", ")
		}
		r.log.Info("docs table: kept the previous rows of legs with no result this run", "file", matrixFile, "keys", kept)
		out.note(false, "kept the previous docs %s in %s: no result this run", what, matrixFile)
	}
	if !changed {
		out.note(false, "every leg this run has news of kept its previous row, so %s was left as it was", matrixFile)
		return rows, out, nil
	}
	out.FileRewritten = true
	return rows, out, nil
}

// keptInDocs says which rows keep their line in the docs file: those of
// legs with no result this run (placeholders, for a leg that never
// reported or reported only for another commit).
func keptInDocs(r matrix.Row) bool { return r.Source == matrix.Placeholder }

// NoExpectNotice is Report's notice when no key is expected: legs that
// never reported cannot be shown.
const NoExpectNotice = "the input expect is empty, so a leg that never reported (it failed or was cancelled " +
	"before its first report) has no row in this matrix instead of a ? row: set expect to the matrix's row keys " +
	"(e.g. expect: aws,gcp) to show such legs"

// gathered is what Report learned from GitHub.
type gathered struct {
	head   string       // the commit the matrix is about
	prHead string       // the PR's current head, when it was read
	rows   []matrix.Row // the comment's rows and the statuses' rows
	read   bool         // the statuses (and on a PR, the comment) were read
}

// gather reads what GitHub knows: the comment's rows (on a PR) and the
// legs' statuses. g.head, the event's commit, stays the head; only an empty
// one is filled from the PR. When the PR's head is another commit, the
// comment is about that commit, so only g.head's statuses are read.
func (r *Reporter) gather(ctx context.Context, g *gathered) error {
	if r.cfg.Event.PR == 0 {
		if g.head == "" {
			return nil
		}
		statuses, err := r.statuses(ctx, g.head)
		if err != nil {
			return err
		}
		g.rows, _ = reconcile(nil, statuses, g.head)
		g.read = true
		return nil
	}
	h, err := r.prHead(ctx)
	if err != nil {
		return err
	}
	g.prHead = h
	if g.head != "" && g.head != h {
		statuses, err := r.statuses(ctx, g.head)
		if err != nil {
			return err
		}
		g.rows, _ = reconcile(nil, statuses, g.head)
		g.read = true
		return nil
	}
	g.head = h
	v, err := r.read(ctx, h)
	if err != nil {
		return err
	}
	g.rows = v.desired(nil, h)
	g.read = true
	return nil
}

// publishFinal writes rows as the comment's matrix and reads back until the
// comment is single and holds every row (a late leg may still be writing).
// The comment lists them in order (expect's keys first, as the summary,
// matrix.md and matrix.json do), not Merge's provider order.
func (r *Reporter) publishFinal(ctx context.Context, rows []matrix.Row, head string, order []string) (string, error) {
	for writes := 0; ; writes++ {
		v, err := r.read(ctx, head)
		if err != nil {
			return "", err
		}
		if writes > 0 && len(v.comments) == 1 && v.storedSHA == head && holdsAll(v.rows, rows) {
			return v.comments[0].GetHTMLURL(), nil
		}
		if writes == r.cfg.Attempts {
			return "", r.notConfirmed()
		}
		if err := r.newerStored(ctx, v, head); err != nil {
			return "", err
		}
		merged := finalRows(matrix.Merge(v.desired(nil, head), rows, head), head)
		matrix.Sort(merged, order)
		// No leg is writing any more (the report job runs after them), so
		// the write's bound is only there to end a request that hangs.
		if err := r.afterWrite(ctx, r.write(ctx, v, merged, head, r.now().Add(r.cfg.Quiet/2)), head); err != nil {
			return "", err
		}
		if err := r.sleep(ctx, r.settleDelay(writes+1)); err != nil {
			return "", err
		}
	}
}

// holdsAll reports whether every key of want has a row in got.
func holdsAll(got, want []matrix.Row) bool {
	for _, w := range want {
		if indexOf(got, w.Key) < 0 {
			return false
		}
	}
	return true
}

// Placeholders are rows for keys nothing is known about: the matrix report
// writes when it cannot ask GitHub (no repository known outside Actions).
func Placeholders(keys []string, head string) []matrix.Row {
	var rows []matrix.Row
	for _, k := range keys {
		rows = append(rows, placeholder(k, head, "no result known here"))
	}
	matrix.Sort(rows, keys)
	return rows
}

// placeholder stands for a leg without a result for head. It names the leg
// by its key's display name, not knowing the leg's display input; in the
// docs file it takes the leg's line, by the rows line, and keeps that
// line's name (see RewriteDocsTable).
func placeholder(key, head, note string) matrix.Row {
	row := matrix.Row{Key: key, Provider: matrix.DisplayName(key), HeadSHA: head, Notes: note, Source: matrix.Placeholder}
	for _, c := range matrix.Columns() {
		row.Set(c, matrix.Unknown, "")
	}
	return row
}

// endedWithoutResult is the note on a row still pending at report time.
const endedWithoutResult = "leg ended without a final result"

// finalRows replaces rows about another commit with placeholders saying so:
// the final matrix is about head only. A row still pending is a leg that
// ended without reporting its result (killed, timed out: report runs after
// every leg of its run), so its pending cells become ? with a note saying
// so. That holds only for the run's own commit, which is why Report never
// follows the PR's head away from the event's commit: a newer push's legs
// may still be running.
func finalRows(rows []matrix.Row, head string) []matrix.Row {
	out := slices.Clone(rows)
	for i, r := range out {
		if matrix.IsCurrent(r, head) && r.Has(matrix.Pending) {
			r.Cells = cloneCells(r.Cells)
			for c, cell := range r.Cells {
				if cell.Status == matrix.Pending {
					r.Cells[c] = matrix.Cell{Status: matrix.Unknown}
				}
			}
			if !strings.Contains(r.Notes, endedWithoutResult) {
				r.Notes = strings.TrimSpace(strings.TrimSuffix(endedWithoutResult+"; "+r.Notes, "; "))
			}
			out[i] = r
		}
		if !matrix.IsCurrent(r, head) {
			p := placeholder(r.Key, head, "no result for "+matrix.ShortSHA(head))
			if r.HeadSHA != "" {
				p.Notes += "; last reported for " + matrix.ShortSHA(r.HeadSHA)
			}
			p.Provider = r.Provider
			out[i] = p
		}
	}
	return out
}

// rewriteFile rewrites the docs table in place, keeping the file's mode.
// The lines of rows keptInDocs says to keep stay as they were (kept lists
// their keys); when every row was kept so, nothing is new for the file,
// and it is not written (changed is false): rewriting it would only
// write its header and rows line afresh.
func rewriteFile(path string, rows []matrix.Row) (changed bool, kept []string, err error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return false, nil, &InputError{Input: "matrix-file", Value: path, Expected: matrix.DocsFileForm, Err: err}
	}
	updated, kept, err := rewriteDocs(content, rows, keptInDocs)
	if err != nil {
		return false, nil, &InputError{Input: "matrix-file", Value: path, Expected: matrix.DocsFileForm, Err: err}
	}
	if len(kept) == len(rows) {
		return false, kept, nil
	}
	// The file was read and its table is good: failing to write it now
	// is no fault of the input, so these are plain errors saying what was
	// being done.
	info, err := os.Stat(path)
	if err != nil {
		return false, kept, fmt.Errorf("read the mode of the matrix-file %s: %w", path, err)
	}
	if err := os.WriteFile(path, updated, info.Mode().Perm()); err != nil {
		return false, kept, fmt.Errorf("write the matrix-file %s: %w", path, err)
	}
	return true, kept, nil
}
