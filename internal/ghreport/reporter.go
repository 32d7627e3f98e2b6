// Package ghreport puts the verification matrix on GitHub: a commit status
// per leg on the PR's head commit, one sticky PR comment holding the whole
// matrix (its rows kept as hidden state so concurrent legs can merge into
// it), and the authoritative final matrix for the aggregating report job,
// including the table in a docs file.
//
// Reporting never fails a verification. Whatever GitHub refuses (fork PRs,
// read-only tokens, rate limits beyond the wait budget) degrades to the job
// summary and one notice line, returned in an Outcome.
package ghreport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// Defaults for Config's zero values.
const (
	DefaultAPIURL   = "https://api.github.com/"
	DefaultBudget   = 3 * time.Minute
	DefaultAttempts = 10
	DefaultSettle   = 1 * time.Second
	DefaultQuiet    = 6 * time.Second
	// DefaultEndReadTimeout bounds the comment read with which Abandon
	// and EndKept learn the leg's settled cells before posting its
	// status: a slow API (requests that take long, 5xx answers backed
	// off) could otherwise spend most of the caller's time there, leaving
	// too little for the status's rate-limit wait (up to
	// SecondaryRateLimitWait). Without the read the row gets ? for what
	// it did not know, which is better than a status left pending.
	DefaultEndReadTimeout = 25 * time.Second
)

// Config configures a Reporter.
type Config struct {
	// Token is the GitHub token (input github-token). Empty: nothing is
	// sent to GitHub and every Outcome is degraded.
	Token string
	// APIURL is the REST API base (input github-api-url, default
	// GITHUB_API_URL; "https://ghe.example.com/api/v3" on GHES). A bare
	// host that is not an api.* one ("https://ghe.example.com") is a GHES
	// web host, and its API is called under /api/v3/ (restBase).
	APIURL string
	// Repo is "owner/name"; empty means Event.Repo.
	Repo  string
	Event Event
	// JobURL is the status target and the link on the leg's row; empty
	// means the job's page from CheckRunID, else the job looked up among
	// the run's jobs, else Event.RunURL.
	JobURL string
	// CheckRunID is the job's check run id (input check-run-id, from
	// job.check_run_id), 0 when unknown. With Event.JobsURL it names the
	// job's page, so no lookup (and no actions: read) is needed.
	CheckRunID int64
	HTTPClient *http.Client
	// Clock is what the Reporter measures time and waits on; default
	// WallClock. Tests inject one that does not wait, or runs faster
	// than real time.
	Clock Clock
	// Rand draws the jitter; default seeded from the time.
	Rand   *rand.Rand
	Logger *slog.Logger
	// Budget bounds the time spent waiting on rate limits and retries by
	// each call (Start, Update, Report) on its own; default
	// DefaultBudget. The caller's context deadline bounds it too.
	Budget time.Duration
	// FinalBudget is Budget for the calls that end a leg (Finish, Abandon,
	// EndKept): their status replaces the pending one, which would
	// otherwise stay for good (it may be a required check), so they may
	// wait longer, e.g. out a secondary rate limit without headers
	// (SecondaryRateLimitWait). Default: Budget.
	FinalBudget time.Duration
	// Attempts bounds the comment writes per update; default
	// DefaultAttempts.
	Attempts int
	// Settle is the base delay before a write is read back; default
	// DefaultSettle.
	Settle time.Duration
	// EndReadTimeout bounds, on Clock, the comment read of Abandon and
	// EndKept (DefaultEndReadTimeout says why); default
	// DefaultEndReadTimeout.
	EndReadTimeout time.Duration
	// Quiet is how long a leg keeps watching its confirmed row, with the
	// comment unchanged, before it trusts it: longer than any other leg's
	// read-to-write latency plus twice the lag of GitHub's read replicas,
	// so a write based on a read from before the watch began has landed
	// too, and is seen (sticky.go). A leg reads again rather than write
	// from a read older than Quiet/2, and a write must be answered within
	// 3·Quiet/4 of its read, so the default (6 s) leaves 1.5 s for twice
	// the replica lag, several times GitHub's usual. A GitHub slower than
	// Quiet/2 per comment listing, read after read, leaves the comment
	// alone (errTooSlow, a notice); statuses are still posted. The
	// concurrency test at production settings checks it against a fake as
	// slow as GitHub, with stale reads. Default DefaultQuiet. Start does
	// not wait it: its ⏳ row is replaced by the leg's later rows anyway.
	Quiet time.Duration
	// PinHead: Event.HeadSHA was given (input head-sha) rather than taken
	// from the event. Report reports Event.HeadSHA either way, even when
	// the PR's head is another commit; PinHead only says in the notice
	// why that is.
	PinHead bool
	// SkipComment leaves the PR comment alone (input comment: false in
	// report mode): statuses are read, nothing is written.
	SkipComment bool
	// KeptIn says where the matrix is when GitHub does not get it, for the
	// notices: "in the job summary" (the default, in Actions), or at a
	// terminal, with no job summary, "written to out/matrix.md".
	KeptIn string
}

// Outcome is how the reporting went. It is never an error: the caller shows
// Notice (as ::notice::) when it is set and carries on.
type Outcome struct {
	// Degraded: GitHub did not get the whole report; the job summary has it.
	Degraded bool
	// Notice is one line for people, or empty.
	Notice string
	// StatusPosted: the commit status was set.
	StatusPosted bool
	// CommentURL is the sticky comment, once it holds the row.
	CommentURL string
	// HeadSHA is the commit Report's matrix is about.
	HeadSHA string
	// FileRewritten: Report rewrote the table in the matrix file.
	FileRewritten bool
	// Off: the Reporter writes nothing to GitHub from now on (no token, a
	// fork PR, a token refused at the commit status), so later calls only
	// repeat the notice. A token refused at the comment alone does not
	// turn it off: statuses are still posted (StatusPosted says so).
	Off bool
	// Read: Report read the legs' statuses (and on a PR, the comment)
	// from GitHub. Without it, its matrix holds only the expected rows.
	Read bool
	// Canceled: the call was cut short on purpose, not by GitHub: its
	// context was canceled (the caller stopped it) or the leg's next
	// report superseded it. Nothing is wrong with the reporting, so there
	// is no notice and it is not Degraded. A deadline that runs out is a
	// failure, not this.
	Canceled bool
}

func (o *Outcome) note(degraded bool, format string, args ...any) {
	o.Degraded = o.Degraded || degraded
	msg := fmt.Sprintf(format, args...)
	if o.Notice == "" {
		o.Notice = msg
	} else {
		o.Notice += "; " + msg
	}
}

// Reporter reports one leg (Start, Finish) or the whole matrix (Report).
// A leg's reports may be asked for from several goroutines (StartAsync, a
// progress Update, Finish): they run one at a time, in the order asked, a
// later one superseding the comment confirmation of the one in progress.
// Several Reporters (one per leg) may run concurrently against the same PR.
type Reporter struct {
	cfg         Config
	gh          *github.Client
	owner, name string
	log         *slog.Logger

	mu        sync.Mutex
	rand      *rand.Rand
	off       string // why GitHub is not written to; empty while it is
	lastStamp time.Time
	ownLogin  string          // the token's account, once known (identity.go)
	trusted   map[string]bool // logins whose marker comments count; nil until learned
	lookupJob bool            // the job's URL is to be looked up (Config.JobURL was empty)
	jobLooked bool            // it was (found or not)
	// seen is the newest own row of every leg read from the comment, per
	// head commit: merged into every write, so a row this reporter has
	// seen is never dropped by its writes (sticky.go).
	seen map[seenKey]matrix.Row
	// lastWriteErr is the last comment write's failure, for the notice
	// when the writes run out.
	lastWriteErr error
	// commentOff is why the PR comment is not written to while statuses
	// still are (the token may post statuses but not comment, or the PR
	// is locked); empty while it is.
	commentOff string

	// turn is held by the report (Start, Update, Finish, ...) in progress:
	// a leg's reports run one at a time, in the order they were asked
	// for, so a later status (the final one) is never posted before an
	// earlier one (pending) has been answered.
	turn chan struct{}
	// lateUntil is until when a comment write that got no answer may still
	// land (sticky.go, mayLandLate).
	lateUntil time.Time
	// waiting counts reports waiting for the turn; cutTurn ends the
	// comment confirmation of the report holding it. A report asked for
	// while another runs supersedes it: the running one's row is replaced
	// by the new one anyway, so it stops confirming it (its status, once
	// sent, is left to be answered).
	waiting int
	cutTurn context.CancelFunc
}

// New checks cfg and builds a Reporter. Bad input (a malformed repository or
// API URL) is an *InputError; a missing token or a fork PR is not: the
// Reporter then only degrades.
func New(cfg Config) (*Reporter, error) {
	if cfg.Repo == "" {
		cfg.Repo = cfg.Event.Repo
	}
	owner, name, ok := strings.Cut(cfg.Repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, &InputError{Input: "github-repository", Value: cfg.Repo,
			Expected: "owner/name like tinylabscom/mvm (its default is GITHUB_REPOSITORY)"}
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	u, err := url.Parse(cfg.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &InputError{Input: "github-api-url", Value: cfg.APIURL,
			Expected: "an http(s) URL like " + DefaultAPIURL + " or https://ghe.example.com/api/v3"}
	}
	cfg.APIURL = restBase(u, cfg.APIURL)
	if cfg.JobURL == "" && cfg.CheckRunID > 0 && cfg.Event.JobsURL != "" {
		cfg.JobURL = fmt.Sprintf("%s/%d", cfg.Event.JobsURL, cfg.CheckRunID)
	}
	lookupJob := cfg.JobURL == ""
	if lookupJob {
		cfg.JobURL = cfg.Event.RunURL
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.FinalBudget <= 0 {
		cfg.FinalBudget = cfg.Budget
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = DefaultQuiet
	}
	if cfg.EndReadTimeout <= 0 {
		cfg.EndReadTimeout = DefaultEndReadTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = WallClock{}
	}
	if cfg.KeptIn == "" {
		cfg.KeptIn = "in the job summary"
	}
	r := &Reporter{cfg: cfg, owner: owner, name: name, log: cfg.Logger, rand: cfg.Rand,
		lookupJob: lookupJob, turn: make(chan struct{}, 1)}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.rand == nil {
		seed := uint64(time.Now().UnixNano())
		r.rand = rand.New(rand.NewPCG(seed, seed>>1|1))
	}
	opts := []github.ClientOptionsFunc{
		github.WithURLs(&cfg.APIURL, nil),
		// Rate limits are waited out here, on the injectable clock and
		// within the budget; go-github's own check reads the wall clock.
		github.WithDisableRateLimitCheck(),
		github.WithUserAgent("mvm-verify"),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, github.WithHTTPClient(cfg.HTTPClient))
	} else {
		opts = append(opts, github.WithTimeout(30*time.Second))
	}
	if cfg.Token != "" {
		opts = append(opts, github.WithAuthToken(cfg.Token))
	}
	if r.gh, err = github.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("GitHub client for %s: %w", cfg.APIURL, err)
	}
	switch {
	case cfg.Token == "":
		r.off = "no GitHub token, so the matrix is " + cfg.KeptIn + " only"
	case cfg.Event.readOnlyFork():
		r.off = fmt.Sprintf("pull request from fork %s: its token is read-only, so the matrix is %s only", cfg.Event.HeadRepo, cfg.KeptIn)
	case cfg.Event.HeadSHA == "" && cfg.Event.PR == 0:
		r.off = noCommit
	}
	return r, nil
}

// restBase is the REST API base for the github-api-url raw, parsed as u.
// A URL with a path is taken as given (".../api/v3", a proxy's path), and
// so is a bare api.* host: api.github.com, or GHE.com's
// api.SUBDOMAIN.ghe.com. Any other bare host ("https://ghe.example.com",
// with or without the trailing slash) is a GitHub Enterprise Server's web
// host, which serves the API under /api/v3/, as go-github's
// WithEnterpriseURLs has it: called at the root, /repos/… would be the
// web UI's 404, and reporting would degrade over a URL that names the
// right server.
func restBase(u *url.URL, raw string) string {
	if (u.Path != "" && u.Path != "/") || strings.HasPrefix(strings.ToLower(u.Hostname()), "api.") {
		return raw
	}
	v := *u
	v.Path, v.RawPath = "/api/v3/", ""
	return v.String()
}

// noCommit: nothing names the commit. On a PR, Report learns it from the
// PR's head; a leg cannot, as it must say which commit it tested.
const noCommit = "the event names no commit (GITHUB_SHA is empty), so no status or comment"

func (r *Reporter) sleep(ctx context.Context, d time.Duration) error {
	return r.cfg.Clock.Sleep(ctx, d)
}

func (r *Reporter) now() time.Time { return r.cfg.Clock.Now() }

// disabled is why GitHub is not written to, or empty.
func (r *Reporter) disabled() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.off
}

// commentDisabled is why the PR comment is not written to, or empty.
func (r *Reporter) commentDisabled() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commentOff
}

// Start reports that the leg began: a pending status and the row in the
// comment, with every column it does not set yet shown as ⏳.
//
// Start returns once a read shows its row in the comment, without the quiet
// period Finish waits (see sticky.go): a ⏳ row that a concurrent leg's stale
// write drops later costs nothing that lasts, as the leg's later rows replace
// it, and the rows that must not be lost are the final ones, which Finish
// confirms in full. Watching the ⏳ row as long would hold every leg's cycle
// back by it, and with many legs starting at once, often past the time the
// caller gives Start.
func (r *Reporter) Start(ctx context.Context, row matrix.Row) Outcome {
	return r.publishAs(ctx, startRow(row), "", confirmSeen, r.cfg.Budget)
}

// StartAsync is Start without waiting for it: the leg's cycle need not wait
// for GitHub. It takes the leg's turn before it returns, so the leg's next
// report (Update, Finish, ...) waits until the pending status has been
// answered and only then posts its own: the final status always comes after
// the pending one. The next report also supersedes Start's ⏳ row, which
// then stops being confirmed. The channel yields Start's Outcome once.
func (r *Reporter) StartAsync(ctx context.Context, row matrix.Row) <-chan Outcome {
	done := make(chan Outcome, 1)
	row = startRow(row)
	commentCtx, release, err := r.takeTurn(ctx)
	if err != nil {
		done <- r.noTurn(ctx, err)
		return done
	}
	go func() {
		defer release()
		done <- r.publishTurn(ctx, commentCtx, row, "", confirmSeen, r.cfg.Budget)
	}()
	return done
}

// startRow is row with every column it does not set yet shown as ⏳.
func startRow(row matrix.Row) matrix.Row {
	row.Cells = cloneCells(row.Cells) // the caller's map stays as it was
	for _, c := range matrix.Columns() {
		if cell, ok := row.Cells[c]; !ok || cell.Status == "" || cell.Status == matrix.Unknown {
			row.Set(c, matrix.Pending, "")
		}
	}
	return row
}

// Update reports the leg's row as it stands, mid-way: cells still ⏳ keep
// the status pending. Each call costs about ten API requests; a leg should
// update at a few milestones, not at every step.
func (r *Reporter) Update(ctx context.Context, row matrix.Row) Outcome {
	return r.publishAs(ctx, row, "", confirmQuiet, r.cfg.Budget)
}

// Finish reports the leg's final row: the status is failure when a cell
// failed, pending while a cell is still pending, success otherwise; the
// comment gets the row. It may wait out rate limits for Config.FinalBudget.
func (r *Reporter) Finish(ctx context.Context, row matrix.Row) Outcome {
	return r.publishAs(ctx, row, "", confirmQuiet, r.cfg.FinalBudget)
}

// Abandon reports a leg whose main step ended without its final row (killed,
// timed out): the action's post step calls it, so the leg's status does not
// stay pending for good (it may be a required check) and its row does not
// stay ⏳. The status becomes error; the row keeps the cells the leg had
// settled, its live cycle becomes ❌ (the cycle did not complete) and every
// other unsettled cell ?, with note as the notes.
func (r *Reporter) Abandon(ctx context.Context, row matrix.Row, note string) Outcome {
	return r.end(ctx, row, note, matrix.Cell{Status: matrix.Fail})
}

// EndKept reports a leg whose host `up` kept, once the host is gone (`down`,
// or the action's post step at the job's end): up left its status pending
// and its row ⏳, and no verdict will follow, as the suite never ran. The
// status becomes error (the leg ended without a result, not a failed check);
// the row keeps the cells up settled, its live cycle becomes — (not run) and
// every other unsettled cell ?, with note as the notes.
func (r *Reporter) EndKept(ctx context.Context, row matrix.Row, note string) Outcome {
	return r.end(ctx, row, note, matrix.Cell{Status: matrix.NotRun})
}

// end settles a leg that ended without a verdict: error status, the row's
// settled cells kept (from the comment), live as its live cycle unless that
// already failed, ? for the rest.
func (r *Reporter) end(ctx context.Context, row matrix.Row, note string, live matrix.Cell) Outcome {
	row.Cells = cloneCells(row.Cells)
	if reason := r.disabled(); reason == "" && r.commentDisabled() == "" && r.cfg.Event.PR != 0 && r.cfg.Event.HeadSHA != "" {
		// Keep what the leg had settled: its row as the comment holds it.
		// Within the ordinary budget and EndReadTimeout: the status that
		// follows matters more, and gets the final budget and the rest of
		// ctx, which slow requests and 5xx backoff here must not use up.
		rctx, cancel := r.cfg.Clock.WithTimeout(r.withBudget(ctx), r.cfg.EndReadTimeout)
		v, err := r.read(rctx, r.cfg.Event.HeadSHA)
		cancel()
		if err == nil {
			if i := indexOf(v.rows, row.Key); i >= 0 && v.rows[i].HeadSHA == r.cfg.Event.HeadSHA {
				for c, cell := range v.rows[i].Cells {
					if _, set := row.Cells[c]; !set {
						row.Cells[c] = cell
					}
				}
				if row.Provider == "" {
					row.Provider = v.rows[i].Provider
				}
			}
		}
	}
	if row.Cell(matrix.LiveCycle).Status != matrix.Fail {
		row.Cells[matrix.LiveCycle] = live
	}
	for _, c := range matrix.Columns() {
		if cell := row.Cell(c); cell.Status == matrix.Pending || cell.Status == "" {
			row.Set(c, matrix.Unknown, "")
		}
	}
	row.Notes = note
	return r.publishAs(ctx, row, stateError, confirmQuiet, r.cfg.FinalBudget)
}

// publishAs posts the row's status (state, or the row's own StatusState
// when empty) and merges the row into the comment, confirming it as far as
// how says, waiting on rate limits and retries for budget at most.
func (r *Reporter) publishAs(ctx context.Context, row matrix.Row, state string, how confirm, budget time.Duration) Outcome {
	commentCtx, release, err := r.takeTurn(ctx)
	if err != nil {
		return r.noTurn(ctx, err)
	}
	defer release()
	return r.publishTurn(ctx, commentCtx, row, state, how, budget)
}

// takeTurn waits for the leg's turn to report, superseding the report that
// holds it (see Reporter.turn). commentCtx is ctx, also canceled once a
// later report supersedes this one; release gives the turn back.
func (r *Reporter) takeTurn(ctx context.Context) (commentCtx context.Context, release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	r.waiting++
	if r.cutTurn != nil {
		r.cutTurn()
	}
	r.mu.Unlock()
	select {
	case r.turn <- struct{}{}:
	case <-ctx.Done():
		r.mu.Lock()
		r.waiting--
		r.mu.Unlock()
		return nil, nil, ctx.Err()
	}
	commentCtx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.waiting--
	r.cutTurn = cancel
	if r.waiting > 0 {
		// A later report asked for the turn before this one could be
		// told to stop: it supersedes this one already.
		cancel()
	}
	r.mu.Unlock()
	return commentCtx, func() {
		cancel()
		<-r.turn
	}, nil
}

// cutShort is out for a report ended by err because its context was
// canceled on purpose (the caller stopped it, or a later report superseded
// it): no notice and no warning, as GitHub did nothing wrong.
func (r *Reporter) cutShort(out Outcome, err error) Outcome {
	out.Canceled = true
	r.log.Info("GitHub report cut short: canceled before it was done", "error", err)
	return out
}

// noTurn is the Outcome of a report whose ctx ended before its turn came.
func (r *Reporter) noTurn(ctx context.Context, err error) Outcome {
	var out Outcome
	if canceled(err, ctx) {
		return r.cutShort(out, err)
	}
	r.degrade(&out, fmt.Errorf("waiting for the leg's previous report: %w", err))
	return out
}

// canceled says whether err ended a call because one of ctxs was canceled
// (not timed out): the caller stopped it, or a later report superseded it.
func canceled(err error, ctxs ...context.Context) bool {
	if !errors.Is(err, context.Canceled) {
		return false
	}
	for _, c := range ctxs {
		if errors.Is(c.Err(), context.Canceled) {
			return true
		}
	}
	return false
}

// publishTurn is publishAs once the turn is held. The status is posted
// with ctx: once sent, it is answered even if a later report supersedes
// this one, so the later status lands after it. The comment is written
// with commentCtx, which the later report cancels: its row replaces this
// one anyway. A report superseded before its status was sent sends
// nothing.
func (r *Reporter) publishTurn(ctx, commentCtx context.Context, row matrix.Row, state string, how confirm, budget time.Duration) Outcome {
	var out Outcome
	if row.Key == "" {
		out.note(true, "matrix row without a key, not reported to GitHub")
		return out
	}
	reason := r.disabled()
	if reason == "" && r.cfg.Event.HeadSHA == "" {
		reason = noCommit
	}
	if reason != "" {
		out.note(true, "%s", reason)
		out.Off = true
		return out
	}
	if err := commentCtx.Err(); err != nil {
		if canceled(err, commentCtx) {
			// Superseded (or stopped) before anything was sent: the
			// later report posts the status.
			return r.cutShort(out, err)
		}
		// The deadline ran out as the turn came: nothing was sent.
		r.degrade(&out, fmt.Errorf("before sending the leg's report: %w", err))
		return out
	}
	// One budget for the status and the comment: the status goes first,
	// and it is what must land.
	b := &waitBudget{left: budget}
	ctx = context.WithValue(ctx, budgetKey{}, b)
	commentCtx = context.WithValue(commentCtx, budgetKey{}, b)
	r.lookupJobURL(ctx)
	row = r.prepare(row)
	if err := r.postStatus(ctx, row, state); err != nil {
		if canceled(err, ctx) {
			return r.cutShort(out, err)
		}
		r.degrade(&out, err)
		return out
	}
	out.StatusPosted = true
	if r.cfg.Event.PR == 0 {
		return out
	}
	if reason := r.commentDisabled(); reason != "" {
		out.note(true, "%s", reason)
		return out
	}
	u, err := r.upsert(commentCtx, row, how)
	var sup superseded
	var unknown headUnknown
	switch {
	case canceled(err, commentCtx):
		return r.cutShort(out, err)
	case errors.As(err, &sup):
		out.note(false, "the PR's head is now %s; the matrix comment follows it and was not updated from %s",
			matrix.ShortSHA(sup.head), matrix.ShortSHA(row.HeadSHA))
	case errors.As(err, &unknown):
		out.note(true, "%v: the commit status is set, the matrix comment was left alone", err)
		r.log.Warn("PR head unknown; comment not updated", "error", err)
	case err != nil:
		r.degradeComment(&out, err)
	default:
		out.CommentURL = u
	}
	return out
}

// prepare stamps the row as this leg's, now, for the event's head commit.
func (r *Reporter) prepare(row matrix.Row) matrix.Row {
	row.HeadSHA = r.cfg.Event.HeadSHA
	row.Source = matrix.FromLeg
	if row.Provider == "" {
		row.Provider = matrix.DisplayName(row.Key)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if row.JobURL == "" {
		row.JobURL = r.cfg.JobURL
	}
	// Strictly increasing, so a leg can tell its latest row from its last.
	stamp := r.now().UTC()
	if !stamp.After(r.lastStamp) {
		stamp = r.lastStamp.Add(time.Microsecond)
	}
	r.lastStamp = stamp
	row.UpdatedAt = stamp
	row.Cells = cloneCells(row.Cells)
	return row
}

func cloneCells(c map[matrix.Column]matrix.Cell) map[matrix.Column]matrix.Cell {
	out := make(map[matrix.Column]matrix.Cell, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// degrade records a failed report in the outcome; a refused token also
// turns the Reporter off so later calls do not try again. It is for
// failures of the status write (and of Report's reads): what the comment
// alone refuses goes through degradeComment.
func (r *Reporter) degrade(out *Outcome, err error) {
	switch {
	case errors.Is(err, ErrReadOnly), errors.Is(err, ErrAuth):
		r.mu.Lock()
		r.off = "the GitHub token cannot write commit statuses here, so the matrix is " + r.cfg.KeptIn + " only"
		r.mu.Unlock()
		out.Off = true
		out.note(true, "GitHub reporting skipped: %v (grant pull-requests: write and statuses: write); the matrix is %s", err, r.cfg.KeptIn)
	default:
		out.note(true, "GitHub reporting incomplete: %v; the matrix is %s", err, r.cfg.KeptIn)
	}
	r.log.Warn("GitHub reporting degraded", "error", err)
}

// degradeComment records a failed comment update. A 403 on the comment
// alone (statuses: write without pull-requests: write, or a locked pull
// request) turns off the comment only: the leg's status must still reach
// its verdict, or it stays pending for good. The reason is kept and said in
// the same words by every later call, so a caller showing each notice once
// shows it once.
func (r *Reporter) degradeComment(out *Outcome, err error) {
	if !errors.Is(err, ErrReadOnly) {
		r.degrade(out, err)
		return
	}
	r.mu.Lock()
	if r.commentOff == "" {
		r.commentOff = fmt.Sprintf("GitHub matrix comment skipped: %v (grant pull-requests: write; a locked pull request refuses comments too); "+
			"the commit status is still posted and the matrix is %s", err, r.cfg.KeptIn)
	}
	reason := r.commentOff
	r.mu.Unlock()
	out.note(true, "%s", reason)
	r.log.Warn("GitHub matrix comment refused; statuses only from now on", "error", err)
}

func (r *Reporter) postStatus(ctx context.Context, row matrix.Row, state string) error {
	if state == "" {
		state = StatusState(row)
	}
	st := github.RepoStatus{
		State:       new(state),
		Description: new(Describe(row)),
		Context:     new(ContextPrefix + row.Key),
	}
	if strings.HasPrefix(row.JobURL, "https://") || strings.HasPrefix(row.JobURL, "http://") {
		st.TargetURL = new(row.JobURL)
	}
	return r.call(ctx, "set commit status "+ContextPrefix+row.Key, func() (*github.Response, error) {
		created, resp, err := r.gh.Repositories.CreateStatus(ctx, r.owner, r.name, row.HeadSHA, st)
		if err == nil {
			r.noteOwnLogin(created.GetCreator().GetLogin())
		}
		return resp, err
	})
}
