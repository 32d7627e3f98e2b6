package ghreport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// Report is the aggregating job's step (mode: report, after every leg): it
// reads the legs' statuses and the comment's rows, adds a row for every
// expected key nothing is known about, writes the final comment, and
// rewrites the table in matrixFile when one is given. The rows it returns
// are the final matrix for head (Outcome.HeadSHA), in expectedKeys order:
// render them with Summary for the job summary, or as JSON.
//
// GitHub trouble only degrades the Outcome; the error is for the docs file
// (missing markers, unreadable or unwritable file).
func (r *Reporter) Report(ctx context.Context, expectedKeys []string, matrixFile string) ([]matrix.Row, Outcome, error) {
	var out Outcome
	ctx = r.withBudget(ctx)
	head := r.cfg.Event.HeadSHA
	var rows []matrix.Row
	var unknown headUnknown
	headKnown := true
	if r.cfg.Token == "" {
		out.note(true, "%s", r.disabled())
	} else if err := r.gather(ctx, &head, &rows); errors.As(err, &unknown) {
		// Fail closed: the matrix is the event's commit's, from its
		// statuses, and the comment is left alone.
		headKnown = false
		out.note(true, "%v: the matrix is for %s from its statuses, and the comment was left alone", err, matrix.ShortSHA(head))
		if statuses, err := r.statuses(ctx, head); err != nil {
			r.degrade(&out, err)
		} else {
			rows, _ = reconcile(nil, statuses, head)
		}
	} else if err != nil {
		r.degrade(&out, err)
	}
	for _, key := range expectedKeys {
		if key != "" && indexOf(rows, key) < 0 {
			rows = append(rows, placeholder(key, head, "no result from this leg"))
		}
	}
	rows = finalRows(rows, head)
	matrix.Sort(rows, expectedKeys)
	out.HeadSHA = head

	if r.cfg.Event.PR != 0 && r.cfg.Token != "" && headKnown && !r.cfg.SkipComment {
		if reason := r.disabled(); reason != "" {
			if !out.Degraded {
				out.note(true, "%s", reason)
			}
		} else if u, err := r.publishFinal(ctx, rows, head); errors.As(err, new(superseded)) {
			out.note(false, "%v: the matrix comment follows the newer head and was not rewritten for %s", err, matrix.ShortSHA(head))
		} else if err != nil {
			r.degrade(&out, err)
		} else {
			out.CommentURL = u
		}
	}

	if matrixFile != "" {
		if err := rewriteFile(matrixFile, rows); err != nil {
			return rows, out, err
		}
	}
	return rows, out, nil
}

// gather reads what GitHub knows: the comment's rows (on a PR) and the
// legs' statuses, for the PR's current head.
func (r *Reporter) gather(ctx context.Context, head *string, rows *[]matrix.Row) error {
	if *head == "" {
		return nil
	}
	if r.cfg.Event.PR == 0 {
		statuses, err := r.statuses(ctx, *head)
		if err != nil {
			return err
		}
		*rows, _ = reconcile(nil, statuses, *head)
		return nil
	}
	h, err := r.prHead(ctx)
	if err != nil {
		return err
	}
	*head = h
	v, err := r.read(ctx, h)
	if err != nil {
		return err
	}
	*rows = v.desired(nil, h)
	return nil
}

// publishFinal writes rows as the comment's matrix and reads back until the
// comment is single and holds every row (a late leg may still be writing).
func (r *Reporter) publishFinal(ctx context.Context, rows []matrix.Row, head string) (string, error) {
	for writes := 0; ; writes++ {
		v, err := r.read(ctx, head)
		if err != nil {
			return "", err
		}
		if writes > 0 && len(v.comments) == 1 && v.storedSHA == head && holdsAll(v.rows, rows) {
			return v.comments[0].GetHTMLURL(), nil
		}
		if writes == r.cfg.Attempts {
			return "", errNotConfirmed
		}
		if err := r.newerStored(ctx, v, head); err != nil {
			return "", err
		}
		merged := finalRows(matrix.Merge(v.desired(nil, head), rows, head), head)
		if err := r.afterWrite(ctx, r.write(ctx, v, merged, head), head); err != nil {
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

// placeholder stands for a leg without a result for head.
func placeholder(key, head, note string) matrix.Row {
	row := matrix.Row{Key: key, Provider: matrix.DisplayName(key), HeadSHA: head, Notes: note, Source: matrix.Placeholder}
	for _, c := range matrix.Columns {
		row.Set(c, matrix.Unknown, "")
	}
	return row
}

// finalRows replaces rows about another commit with placeholders saying so:
// the final matrix is about head only.
func finalRows(rows []matrix.Row, head string) []matrix.Row {
	out := slices.Clone(rows)
	for i, r := range out {
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
func rewriteFile(path string, rows []matrix.Row) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("input matrix-file %s: %w", path, err)
	}
	updated, err := RewriteDocsTable(content, rows)
	if err != nil {
		return fmt.Errorf("input matrix-file %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("input matrix-file %s: %w", path, err)
	}
	if err := os.WriteFile(path, updated, info.Mode().Perm()); err != nil {
		return fmt.Errorf("input matrix-file %s: write: %w", path, err)
	}
	return nil
}
