package ghreport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// The sticky comment protocol. GitHub has no conditional writes for
// comments, so a write can silently undo another leg's write that landed
// between our read and our write. Three things keep rows from being lost:
//
//  1. every write merges: the union of every marker comment's rows, the new
//     row, a row for every leg that has a commit status (statuses are per
//     leg, so they cannot be lost the same way), and the newest own row of
//     every leg this reporter has ever read for the head (Reporter.seen);
//  2. after writing, a leg reads back (after a jittered delay) until its own
//     row is there, the comment is single, and every leg's status, and
//     every own row of a leg it has seen, has a row that is not behind it; it needs two such reads in a row, the second
//     Quiet after the first, that show the comment unchanged (the same
//     write tag, which every write makes new) before it stops. When only
//     another leg's row is missing it waits one delay before writing that
//     row for it. Start's ⏳ row is the exception: one read holding it is
//     enough (confirmSeen), as the leg's later rows replace it and only the
//     final rows must not be lost;
//  3. a leg posts its status before it writes its row, so whoever writes last
//     has seen every finished leg's status and restores any row an earlier
//     stale write dropped (from the status, when the leg's own row is gone).
//     That is the fallback for a leg that never got to write; a leg that
//     did stays until its own row holds.
//
// Why two unchanged reads Quiet apart are enough. A row is dropped (or put
// back to a status-rebuilt or older version) only by a write built from a
// read that did not hold it. That read need not be older than the row's
// first landing: rows flip while legs write back whatever they last read
// (a leg's own row and the one rebuilt from its status replace each other),
// so a leg that read during such a flip can write the flip back after the
// row's owner saw it restored. Two things close that. First, a reporter
// that has read a leg's own row keeps it and merges it into every write
// (1), and Merge ranks a leg's own row over a rebuilt one, so a writer that
// ever saw the row cannot drop it. Second, the two confirming reads show the
// same write tag, so no write at all landed between the states they were
// served from: every read of a state in between held the row. Any later
// write that drops it must then be built from a read served a state from
// before the first of the two, and it lands after the second one's state.
// GitHub serves reads from replicas, a state up to some lag old, so that
// read was asked for at most lag after the first state, and the second
// state is at most lag before its read, asked Quiet after the first: the
// write lands more than Quiet - 2·lag after its read was asked for. The
// code bounds every write that is answered to 3·Quiet/4 after its read:
//
//   - view.at is taken right before the comments are listed (the statuses
//     are read first, so their latency does not count);
//   - the write request's context ends 3·Quiet/4 after view.at
//     (writeRequest; a request not yet sent by then is not sent), so an
//     answered write landed by then;
//   - so that a write gets a fair share of that (at least Quiet/4), a leg
//     writes only from a view at most Quiet/2 old once every request
//     before the write is done (the PR's head included); an older one is
//     read again after a pause, up to Attempts+1 old reads in a row
//     (errTooSlow: GitHub is too slow to write safely).
//
// So no answered write breaks a confirmation while the replicas' lag stays
// under Quiet/8 (750 ms by default; GitHub's is usually well under that).
// A write that got no answer (timed out, canceled, a 5xx from a gateway)
// may still land, later than that: GitHub ends a request it has not
// finished within GitHubRequestLimit, so it lands within that of being
// sent, if at all. The leg that sent it marks that window (lateUntil), and
// its confirmQuiet reports do not stop before the second of the confirming
// reads is asked after the window (plus a Quiet, which covers the lag):
// the late write then landed before the first one's state, so the leg has
// seen the comment after it, with every leg that has a status holding a
// row that agrees with it and every own row of a leg it has seen. The late
// write may land after another leg confirmed its row and stopped watching
// (up to GitHubRequestLimit after it was sent is far past the quiet
// period), and only a leg that has seen that row can put it back whole,
// notes and all, rather than rebuilt from its status. So while a write of
// its own may land late, a leg reads at least every Quiet/4 whatever it is
// waiting for (pause): the row it might drop stood for Quiet - 2·lag
// before the write landed, so a read sees it (and seen keeps it), and the
// leg counts a comment that lacks or holds behind a row it has seen as
// one to write for, as it does one behind a status. Start (confirmSeen)
// returns once its row holds, but with a write that may land late it
// first waits that out reading and repairs what it dropped
// (repairAfterLate): the leg's next report may come too late to have seen
// the rows that write drops.
//
// A leg that gives up (errNotConfirmed, errTooSlow, errKeptChanging,
// superseded, headUnknown) may still have such a write in flight, and the
// other legs may have confirmed their rows and stopped watching before it
// lands. So giving up, while the leg's context allows, waits out the window
// too, then reads once (for the PR's current head) and, if a row the leg has
// seen or one a status backs is missing or behind, writes once from that
// read (repairAfterLate). That write is answered within 3·Quiet/4 of its
// read like any other; the give-up error is returned unchanged. Only a
// leg whose context ends (canceled, or the Finish deadline) cannot repair;
// then the report job rebuilds a dropped row from its status.
//
// The quiet-period argument holds only for writes built from a fresh read,
// so a comment write is never resent as it was: after a 5xx or a rate limit
// the loop reads again, checks the PR's head and merges (afterWrite).
//
// Only marker comments of the reporting account count (identity.go).
// Duplicates among them (two legs creating at once) are resolved
// oldest-wins: their rows are merged into the oldest, the others deleted.

// superseded: the PR's head moved past the leg's commit.
type superseded struct{ head string }

func (s superseded) Error() string { return "PR head moved to " + s.head }

// errNotConfirmed: the row never stayed in the comment.
var errNotConfirmed = errors.New("matrix comment: the row did not stay in the comment after all attempts")

// errKeptChanging: the reads bound ran out while the row held but the
// matrix around it kept changing, so the leg could not confirm it stayed.
var errKeptChanging = errors.New("matrix comment: other legs kept changing the comment; gave up confirming the row stays")

// errTooSlow: every read took longer than half the quiet period, so a write
// from it could land after another leg trusted its row (see the protocol
// above); the leg gave up rather than risk that.
var errTooSlow = errors.New("matrix comment: GitHub answered too slowly to write the row safely (every read took longer than half the quiet period)")

// GitHubRequestLimit is how long GitHub works on an API request before it
// ends it with a timeout (GitHub's REST API documentation: 10 seconds): a
// write that got no answer lands within this of being sent, if at all.
const GitHubRequestLimit = 10 * time.Second

// view is the comment and statuses as last read.
type view struct {
	comments  []*github.IssueComment // marker comments, oldest first
	rows      []matrix.Row           // the union of their rows
	storedSHA string                 // the head SHA the oldest comment is about
	statuses  []remoteStatus         // mvm-verify statuses on the head commit
	at        time.Time              // right before the comments were asked for
	// seen is the newest own row of every leg this reporter has read for
	// the head, this read included (Reporter.seen).
	seen []matrix.Row
}

// version identifies the comment as read: its id and body, whose write tag
// every write makes new, so two reads with the same version saw no write
// land between them. Empty unless there is exactly one marker comment.
func (v view) version() string {
	if len(v.comments) != 1 {
		return ""
	}
	return fmt.Sprintf("%d\n%s", v.comments[0].GetID(), v.comments[0].GetBody())
}

// headUnknown: the PR's current head could not be learned, so the comment
// is left alone: writing without it could put an older push's row over a
// newer one.
type headUnknown struct{ err error }

func (h headUnknown) Error() string {
	if h.err == nil {
		return "the pull request's current head is unknown (GitHub sent none)"
	}
	return fmt.Sprintf("the pull request's current head is unknown (%v)", h.err)
}

func (h headUnknown) Unwrap() error { return h.err }

// prHead is the PR's current head commit: a re-run of an older push must not
// overwrite the matrix of a newer one. It fails closed: any failure to learn
// it is headUnknown (or the refusal itself, for auth and rate limits, which
// say more).
func (r *Reporter) prHead(ctx context.Context) (string, error) {
	var head string
	err := r.call(ctx, fmt.Sprintf("get pull request #%d", r.cfg.Event.PR), func() (*github.Response, error) {
		pr, resp, err := r.gh.PullRequests.Get(ctx, r.owner, r.name, r.cfg.Event.PR)
		head = pr.GetHead().GetSHA()
		return resp, err
	})
	switch {
	case errors.Is(err, ErrAuth) || errors.Is(err, ErrRateLimited) || ctx.Err() != nil:
		return "", err
	case err != nil:
		return "", headUnknown{err: err}
	case head == "":
		return "", headUnknown{}
	}
	return head, nil
}

// confirm is how far upsert makes sure the leg's row stays in the comment.
type confirm int

const (
	// confirmQuiet: until a read made Quiet after one that held the row
	// holds it too. For every row that must not be lost.
	confirmQuiet confirm = iota
	// confirmSeen: until one read holds the row. For Start's ⏳ row,
	// which the leg's later rows replace anyway.
	confirmSeen
)

// upsert merges the leg's row into the sticky comment and returns its URL
// once the row has stayed there (as far as how asks).
//
// With confirmQuiet a leg stops only when a read made Quiet after a read
// that already held its row still holds it and shows the comment unchanged
// since: by then every write that could drop it has landed and been seen
// (see the protocol at the top of this file).
func (r *Reporter) upsert(ctx context.Context, own matrix.Row, how confirm) (string, error) {
	u, err := r.confirmRow(ctx, own, how)
	if err != nil && ctx.Err() == nil {
		// Giving up does not stop a write of this leg that got no answer:
		// it may still land and drop rows other legs already trust.
		r.repairAfterLate(ctx, own.HeadSHA)
	}
	return u, err
}

// confirmRow is upsert without the repair after giving up.
func (r *Reporter) confirmRow(ctx context.Context, own matrix.Row, how confirm) (string, error) {
	head, err := r.prHead(ctx)
	if err != nil {
		return "", err
	}
	if own.HeadSHA != head {
		return "", superseded{head: head}
	}
	quieted, writes, waited := false, 0, false
	// quietFrom is the comment as the read that began the quiet wait saw it.
	var quietFrom string
	// old counts the reads in a row too old to write from (errTooSlow).
	old := 0
	// reads bounds the loop should the matrix keep changing under the leg
	// without a write: while others write, reads that hold the row keep
	// finding the comment changed since the quiet wait began, and the leg
	// watches again; only this ends that (errKeptChanging). A leg whose
	// row does not stay is ended by its writes, a leg whose reads are all
	// too old to write from by old.
	for reads := 0; ; {
		if reads > 4*(r.cfg.Attempts+1) {
			return "", errKeptChanging
		}
		v, err := r.read(ctx, head)
		if err != nil {
			return "", err
		}
		holds := v.holds(own, head)
		if holds && how == confirmSeen {
			// Other legs' rows are theirs to confirm. But a write of
			// this leg that got no answer may still land and put back
			// what its read held over rows other legs have confirmed
			// since: wait it out reading, and put back what it dropped
			// (repairAfterLate), as the leg's next report may come only
			// after it landed, too late to have seen those rows.
			if r.lateWrites().After(v.at) {
				r.repairAfterLate(ctx, head)
			}
			return v.comments[0].GetHTMLURL(), nil
		}
		// Another leg's row is missing or behind: behind its status, or
		// behind the newest own row of it this reporter has seen (a stale
		// write, maybe a late one of this leg, put back an older one).
		helps := v.lacks(v.desired(nil, head), head)
		switch {
		case holds && !helps:
			reads++
			old = 0
			if quieted && v.version() == quietFrom {
				late := r.lateWrites()
				if !v.at.Before(late) {
					return v.comments[0].GetHTMLURL(), nil
				}
				// A write of this leg got no answer and may still land:
				// watch until a read asked after it could have.
				r.log.Info("a matrix comment write got no answer and may land late; watching until it could have", "until", late)
				if err := r.pause(ctx, late.Sub(v.at), head); err != nil {
					return "", err
				}
				continue
			}
			if quieted {
				// Writes landed during the wait: a read in between may
				// not have held the row, and its write may still come.
				// Watch again from this read.
				r.log.Info("matrix comment changed while the row was watched; watching again")
			}
			quieted, quietFrom = true, v.version()
			if err := r.pause(ctx, r.cfg.Quiet, head); err != nil {
				return "", err
			}
			continue
		case holds && !waited:
			reads++
			old = 0
			// Another leg's row is missing or behind its status. Most
			// likely that leg is about to write it: give it the time
			// before writing for it, which would only add contention.
			waited, quieted = true, false
			if err := r.pause(ctx, r.settleDelay(writes), head); err != nil {
				return "", err
			}
			continue
		}
		quieted, waited = false, false
		if writes == r.cfg.Attempts {
			return "", r.notConfirmed()
		}
		if err := r.newerStored(ctx, v, head); err != nil {
			return "", err
		}
		if age := r.now().Sub(v.at); age > r.cfg.Quiet/2 {
			// A write from an old read could land after another leg
			// trusted its row (the protocol above): read again rather
			// than write from it. After a pause: GitHub (or the machine)
			// is slow now, and reads at once would only add to that.
			old++
			if old > r.cfg.Attempts {
				return "", errTooSlow
			}
			r.log.Info("matrix comment read is old; reading it again before writing", "age", age)
			pause := r.cfg.Quiet / 4
			if err := r.pause(ctx, pause/2+r.jitter(pause), head); err != nil {
				return "", err
			}
			continue
		}
		reads++
		old = 0
		writes++
		rows := v.desired(&own, head)
		if err := r.afterWrite(ctx, r.write(ctx, v, rows, head, v.at.Add(3*r.cfg.Quiet/4)), head); err != nil {
			return "", err
		}
		if err := r.pause(ctx, r.settleDelay(writes), head); err != nil {
			return "", err
		}
	}
}

// repairAfterLate is what a leg does when it gives up while a write of its
// own that got no answer may still land (lateWrites): that write was built
// from an older read and may drop a row another leg confirmed and stopped
// watching. It waits until the write could have landed, reads once for the
// PR's current head and, if a row it has seen or one a status backs is
// missing or behind, writes once more from that read. Best effort: its
// failures are only logged, and the leg's own give-up stands.
func (r *Reporter) repairAfterLate(ctx context.Context, head string) {
	late := r.lateWrites()
	now := r.now()
	if !late.After(now) {
		return
	}
	r.log.Info("gave up on the matrix comment while a write may still land; waiting to repair what it may drop", "until", late)
	if err := r.pause(ctx, late.Sub(now), head); err != nil {
		return
	}
	head, err := r.prHead(ctx)
	if err != nil {
		r.log.Info("matrix comment repair skipped: PR head unknown", "error", err)
		return
	}
	v, err := r.read(ctx, head)
	if err != nil {
		r.log.Info("matrix comment repair skipped: read failed", "error", err)
		return
	}
	rows := v.desired(nil, head)
	if !v.lacks(rows, head) {
		return
	}
	r.log.Info("matrix comment lost rows to a late write; writing them back")
	if err := r.write(ctx, v, rows, head, v.at.Add(3*r.cfg.Quiet/4)); err != nil {
		r.log.Info("matrix comment repair write failed", "error", err)
	}
}

// pause waits d. While a comment write of this leg that got no answer may
// still land (lateWrites), it reads the comment at least every Quiet/4
// meanwhile, for the rows it holds (Reporter.seen): that write was built
// from an older read and may replace a row another leg has since confirmed
// and stopped watching with what that read held, and only a leg that has
// seen the row can put it back whole (not rebuilt from its status). The
// row's leg stops watching no sooner than Quiet after a read that held
// it, so the row stood for at least Quiet - 2·lag before the late write
// landed (see the protocol above), and reads asked at most Quiet/4 plus
// their latency apart see it while that latency stays under Quiet/2. The
// reads are best effort: one that fails is skipped. The steps are counted
// up front, so a clock that does not move (tests) cannot make it spin.
func (r *Reporter) pause(ctx context.Context, d time.Duration, head string) error {
	step := r.cfg.Quiet / 4
	if step <= 0 || d <= step || !r.lateWrites().After(r.now()) {
		return r.sleep(ctx, d)
	}
	steps := int((d + step - 1) / step)
	for i := range steps {
		if err := r.sleep(ctx, d/time.Duration(steps)); err != nil {
			return err
		}
		if i == steps-1 || !r.lateWrites().After(r.now()) {
			continue
		}
		if _, err := r.read(ctx, head); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Info("matrix comment read while a write may land late failed; going on", "error", err)
		}
	}
	return nil
}

// lacks reports whether the comment misses or holds behind any of rows
// (what desired makes of it), so that a write of rows would restore a row.
func (v view) lacks(rows []matrix.Row, head string) bool {
	if len(rows) == 0 {
		return false
	}
	if len(v.comments) != 1 || v.storedSHA != head {
		return true
	}
	for _, want := range rows {
		i := indexOf(v.rows, want.Key)
		if i < 0 {
			return true
		}
		got := v.rows[i]
		if want.HeadSHA != head {
			continue // an older push's row, kept as the comment has it
		}
		if got.HeadSHA != head || (want.Source == matrix.FromLeg &&
			(got.Source != matrix.FromLeg || got.UpdatedAt.Before(want.UpdatedAt))) {
			return true
		}
	}
	_, helps := reconcile(slices.Clone(v.rows), v.statuses, head)
	return helps
}

// lateWrites is until when a comment write of this reporter that got no
// answer may still land (zero when none may).
func (r *Reporter) lateWrites() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lateUntil
}

// mayLandLate notes that a write sent at sent got no answer that says it
// was not applied, so it may still land, up to GitHubRequestLimit after it
// was sent, and a read served a state that old or newer must see it: the
// replicas' lag, under Quiet/8 by the protocol, is covered by Quiet.
func (r *Reporter) mayLandLate(sent time.Time) {
	until := sent.Add(GitHubRequestLimit + r.cfg.Quiet)
	r.mu.Lock()
	defer r.mu.Unlock()
	if until.After(r.lateUntil) {
		r.lateUntil = until
	}
}

// afterWrite decides whether a write's failure ends the update. A 404 means
// another leg deleted the comment as a duplicate: read again and merge into
// the survivor. errWriteAgain (a 5xx or a rate limit, already waited out)
// means read again too, but time has passed, so first make sure the PR's
// head is still ours: the next write is then built from a fresh read for the
// current head, never from the read before the wait.
func (r *Reporter) afterWrite(ctx context.Context, err error, head string) error {
	r.mu.Lock()
	r.lastWriteErr = err
	r.mu.Unlock()
	switch {
	case err == nil || statusCode(err) == http.StatusNotFound:
		return nil
	case errors.Is(err, errWriteAgain):
		r.log.Info("matrix comment write failed; reading it again", "error", err)
		now, herr := r.prHead(ctx)
		if herr != nil {
			return herr
		}
		if now != head {
			return superseded{head: now}
		}
		return nil
	}
	return err
}

// newerStored guards a write over a comment about another commit: that is
// an older push's matrix only while the PR's head is still ours. If the head
// moved (the comment is about a newer push), the write is superseded.
func (r *Reporter) newerStored(ctx context.Context, v view, head string) error {
	if len(v.comments) == 0 || v.storedSHA == "" || v.storedSHA == head {
		return nil
	}
	now, err := r.prHead(ctx)
	if err != nil {
		return err
	}
	if now != head {
		return superseded{head: now}
	}
	return nil
}

// notConfirmed is errNotConfirmed with the last write's failure, if any:
// "the row did not stay" reads wrong when GitHub kept refusing the writes.
func (r *Reporter) notConfirmed() error {
	r.mu.Lock()
	last := r.lastWriteErr
	r.mu.Unlock()
	if last != nil {
		return fmt.Errorf("%w (the last write failed: %w)", errNotConfirmed, last)
	}
	return errNotConfirmed
}

// settleDelay is the jittered wait before reading back, growing with the
// number of writes so colliding legs drift apart. After the first write it
// is short (around Settle): a row dropped early is caught by the first read
// back, and one dropped later by the read Quiet after it, so the first
// wait is not what keeps rows; it only lets the write show in GitHub's
// reads, and spreads legs that wrote at once.
func (r *Reporter) settleDelay(writes int) time.Duration {
	base := r.cfg.Settle << min(max(writes-1, 0), 3)
	return base/2 + r.jitter(base)
}

// read lists the marker comments and the head commit's statuses.
func (r *Reporter) read(ctx context.Context, head string) (view, error) {
	var v view
	trusted := r.trustedAuthors(ctx, head)
	// The statuses first: how old the view is (v.at) counts from the
	// listing of the comments, which the protocol bounds (see above).
	statuses, err := r.statuses(ctx, head)
	if err != nil {
		return view{}, err
	}
	v.statuses = statuses
	v.at = r.now()
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		var page []*github.IssueComment
		var resp *github.Response
		err := r.call(ctx, fmt.Sprintf("list comments of #%d", r.cfg.Event.PR), func() (*github.Response, error) {
			var err error
			page, resp, err = r.gh.Issues.ListComments(ctx, r.owner, r.name, r.cfg.Event.PR, opts)
			return resp, err
		})
		if err != nil {
			return view{}, err
		}
		for _, c := range page {
			if !strings.HasPrefix(c.GetBody(), Marker) {
				continue
			}
			if !trusted[c.GetUser().GetLogin()] {
				// Anyone may comment; only our own account's comment is
				// the matrix (see identity.go). Others are left as they are.
				r.log.Info("ignoring a matrix-looking comment by another account", "comment", c.GetID(), "author", c.GetUser().GetLogin())
				continue
			}
			v.comments = append(v.comments, c)
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	slices.SortStableFunc(v.comments, func(a, b *github.IssueComment) int {
		if c := a.GetCreatedAt().Compare(b.GetCreatedAt().Time); c != 0 {
			return c
		}
		return cmp.Compare(a.GetID(), b.GetID())
	})
	for i, c := range v.comments {
		st, _, err := matrix.DecodeState(c.GetBody())
		if err != nil {
			// A damaged state loses only what the statuses cannot restore.
			r.log.Warn("matrix comment state unreadable; rebuilding it", "comment", c.GetID(), "error", err)
			continue
		}
		if i == 0 {
			v.storedSHA = st.HeadSHA
		}
		// No row may claim to be from the future: it would win every
		// merge by its UpdatedAt for good.
		now := r.now().UTC()
		for j := range st.Rows {
			if st.Rows[j].UpdatedAt.After(now) {
				st.Rows[j].UpdatedAt = now
			}
		}
		v.rows = matrix.Merge(v.rows, st.Rows, head)
	}
	v.seen = r.remember(v.rows, head)
	return v, nil
}

// statuses lists the latest mvm-verify status per leg on sha.
func (r *Reporter) statuses(ctx context.Context, sha string) ([]remoteStatus, error) {
	var out []remoteStatus
	opts := &github.ListOptions{PerPage: 100}
	for {
		var combined *github.CombinedStatus
		var resp *github.Response
		err := r.call(ctx, "get combined status of "+matrix.ShortSHA(sha), func() (*github.Response, error) {
			var err error
			combined, resp, err = r.gh.Repositories.GetCombinedStatus(ctx, r.owner, r.name, sha, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, st := range combined.GetStatuses() {
			key, ok := strings.CutPrefix(st.GetContext(), ContextPrefix)
			if !ok || key == "" {
				continue
			}
			at := st.GetUpdatedAt().Time
			if at.IsZero() {
				at = st.GetCreatedAt().Time
			}
			out = append(out, remoteStatus{Key: key, State: st.GetState(), Description: st.GetDescription(),
				TargetURL: st.GetTargetURL(), UpdatedAt: at})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// remember keeps the newest own row of every leg among rows that is about
// head, and returns every row kept for head. Rows about another commit are
// not kept: a write for head must not bring back an older push's row.
func (r *Reporter) remember(rows []matrix.Row, head string) []matrix.Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[seenKey]matrix.Row{}
	}
	for _, row := range rows {
		if row.Source != matrix.FromLeg || row.HeadSHA != head {
			continue
		}
		k := seenKey{key: row.Key, head: head}
		if old, ok := r.seen[k]; !ok || old.UpdatedAt.Before(row.UpdatedAt) {
			r.seen[k] = row
		}
	}
	var out []matrix.Row
	for k, row := range r.seen {
		if k.head == head {
			out = append(out, row)
		}
	}
	return out
}

// seenKey: a leg's rows are remembered per head commit.
type seenKey struct{ key, head string }

// desired is what the comment should hold: its rows, with the own rows the
// reporter has seen merged in (a leg's own row ranks over one rebuilt from
// its status; a tie keeps the comment's), restored from the statuses where
// they are missing or behind, and own merged in.
func (v view) desired(own *matrix.Row, head string) []matrix.Row {
	rows := matrix.Merge(v.seen, v.rows, head)
	rows, _ = reconcile(rows, v.statuses, head)
	if own != nil {
		rows = matrix.Merge(rows, []matrix.Row{*own}, head)
	}
	return rows
}

// holds reports whether the comment is single, about head, and holds own
// (or a later row of the same leg).
func (v view) holds(own matrix.Row, head string) bool {
	if len(v.comments) != 1 || v.storedSHA != head {
		return false
	}
	i := indexOf(v.rows, own.Key)
	if i < 0 {
		return false
	}
	got := v.rows[i]
	return got.Source == matrix.FromLeg && got.HeadSHA == own.HeadSHA && !got.UpdatedAt.Before(own.UpdatedAt)
}

// write puts rows into the oldest marker comment (creating one if there is
// none) and deletes the duplicates, whose rows the view already merged. The
// create or update request must be answered by deadline (on the Reporter's
// clock), else it counts as a write that may land late (writeRequest).
func (r *Reporter) write(ctx context.Context, v view, rows []matrix.Row, head string, deadline time.Time) error {
	body, err := CommentBody(matrix.State{HeadSHA: head, Rows: rows})
	if err != nil {
		return err
	}
	req := github.IssueCommentRequest{Body: body + newWriteTag()}
	if len(v.comments) == 0 {
		return r.callWrite(ctx, fmt.Sprintf("create matrix comment on #%d", r.cfg.Event.PR), func() (*github.Response, error) {
			wctx, done, err := r.writeRequest(ctx, deadline)
			if err != nil {
				return nil, err
			}
			created, resp, err := r.gh.Issues.CreateComment(wctx, r.owner, r.name, r.cfg.Event.PR, req)
			err = done(resp, err)
			if err == nil {
				// The comment's author is the token's account: for the
				// report job on an installation token, the only way to
				// learn it (identity.go), and without it the comment just
				// made would not count as ours on the read back.
				r.noteOwnLogin(created.GetUser().GetLogin())
			}
			return resp, err
		})
	}
	primary := v.comments[0]
	if untagged(primary.GetBody()) != body {
		err := r.callWrite(ctx, fmt.Sprintf("update matrix comment %d", primary.GetID()), func() (*github.Response, error) {
			wctx, done, err := r.writeRequest(ctx, deadline)
			if err != nil {
				return nil, err
			}
			_, resp, err := r.gh.Issues.UpdateComment(wctx, r.owner, r.name, primary.GetID(), req)
			return resp, done(resp, err)
		})
		if err != nil {
			return err
		}
	}
	for _, dup := range v.comments[1:] {
		err := r.call(ctx, fmt.Sprintf("delete duplicate matrix comment %d", dup.GetID()), func() (*github.Response, error) {
			resp, err := r.gh.Issues.DeleteComment(ctx, r.owner, r.name, dup.GetID())
			return resp, err
		})
		if err != nil && statusCode(err) != http.StatusNotFound {
			return err
		}
	}
	return nil
}

// errWriteTimedOut: a comment write got no answer by its deadline. It may
// still land (mayLandLate); the leg reads again before it writes again.
var errWriteTimedOut = errors.New("no answer in time; the write may still land")

// writeRequest bounds one comment write request to deadline, the
// protocol's bound on an answered write, and returns the context for it and
// done, which ends it: done notes a write that may land late (no answer, an
// answer that came after the deadline anyway, or a 5xx, which a gateway
// sends while GitHub may still apply the write) and
// turns a timeout into errWriteTimedOut. Past the deadline already, the
// request is not sent (errWriteTimedOut).
func (r *Reporter) writeRequest(ctx context.Context, deadline time.Time) (context.Context, func(*github.Response, error) error, error) {
	sent := r.now()
	left := deadline.Sub(sent)
	if left <= 0 {
		return nil, nil, fmt.Errorf("%w (not sent: its read is too old)", errWriteTimedOut)
	}
	// On the Reporter's clock, as the deadline is: one running faster
	// than real time (tests) ends the request sooner in real time.
	wctx, cancel := r.cfg.Clock.WithTimeout(ctx, left)
	return wctx, func(resp *github.Response, err error) error {
		defer cancel()
		if err == nil {
			if r.now().After(deadline) {
				// Answered, but only after the deadline (a late timer
				// on a busy machine): it may have landed after the
				// bound the protocol needs, so it counts as late.
				r.mayLandLate(sent)
			}
			return nil
		}
		if resp == nil || resp.Response == nil || resp.StatusCode >= 500 {
			r.mayLandLate(sent)
		}
		if ctx.Err() == nil && wctx.Err() != nil {
			return fmt.Errorf("after %s: %w", left, errWriteTimedOut)
		}
		return err
	}, nil
}

// writeTagOpen starts the last line of every comment body written: a random
// tag, new with every write, so a leg can tell that no write landed between
// two reads (view.version) even when the rows came back the same.
const writeTagOpen = "<!-- mvm-verify:write "

// newWriteTag is a fresh write tag line.
func newWriteTag() string {
	return fmt.Sprintf("%s%016x -->\n", writeTagOpen, rand.Uint64())
}

// untagged is body without its write tag: what CommentBody made.
func untagged(body string) string {
	if i := strings.LastIndex(body, writeTagOpen); i >= 0 {
		return body[:i]
	}
	return body
}
