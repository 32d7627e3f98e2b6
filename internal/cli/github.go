package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// Time for each reporting call. Start and the progress update run beside
// the cycle; the cycle gets what is left of timeout-minutes after the time
// already spent and after finishReserve, kept back for the final row (and
// for the rest of a Start still running when the cycle ends: the final
// status waits for the pending one). A slow or rate-limited API can delay a
// leg by at most these and never fail it.
//
// The calls that end a leg (its final row, the post step's and down's
// re-post, Abandon, EndKept) each get finishReserve, and its wait share is
// enough to wait out a secondary rate limit without headers
// (ghreport.SecondaryRateLimitWait, GitHub's minute) and still make the
// write: otherwise the final status is refused at once, the post step
// meets the same limit seconds later, and the leg's status stays pending
// for good. Start and the progress update keep the shorter startBudget's
// share: their rows are replaced anyway.
const (
	startBudget    = 45 * time.Second // pending status and ⏳ row, read back once (no quiet period)
	progressBudget = 45 * time.Second // runs beside the cycle, ended with it, so costs it nothing
	finishReserve  = 2 * time.Minute  // the final row, after teardown
	reportBudget   = 4 * time.Minute  // report mode, bounded by timeout-minutes too
)

// waitShare is the part of a call's time that may go to waiting out rate
// limits and retries; the rest is for the requests themselves.
func waitShare(d time.Duration) time.Duration { return d * 2 / 3 }

// ghEvent is what the reporting is about: the workflow's event, with the
// github-repository, pull-request and head-sha inputs over it. On an event
// that names no commit of its own (issue_comment, workflow_run) and without
// head-sha, it says in a notice that GITHUB_SHA is used. pinned says
// head-sha was given (it differs from its default, the event's commit): the
// report is then about that commit even if the PR's head is another. With
// another pull request than the event's and no head-sha, the head is left
// empty for the report to read from the PR: the event's commit is not that
// PR's.
func (a *app) ghEvent(run *config.Run) (ev ghreport.Event, pinned bool, err error) {
	ev, err = ghreport.LoadEvent(a.env.Getenv("GITHUB_EVENT_PATH"), a.env.Getenv)
	if err != nil {
		return ghreport.Event{}, false, err
	}
	if run.GitHubRepo != "" {
		ev.Repo = run.GitHubRepo
	}
	pinned = run.HeadSHA != "" && run.HeadSHA != headSHA(a.env.Getenv)
	if !pinned {
		// issue_comment, workflow_run: GITHUB_SHA is not the commit
		// verified; said once, as nothing else would show it.
		if msg := ev.CommitNotice(); msg != "" {
			a.notice(ghreport.Outcome{Notice: msg})
		}
	}
	if run.PullRequest != 0 && run.PullRequest != ev.PR {
		// Another PR than the event's: its head and base are not known
		// from here, so it is not treated as a fork.
		ev.PR, ev.HeadRepo, ev.BaseRepo = run.PullRequest, "", ""
		if !pinned {
			ev.HeadSHA = ""
			return ev, false, nil
		}
	}
	if run.HeadSHA != "" {
		ev.HeadSHA = run.HeadSHA
	}
	return ev, pinned, nil
}

// reporter is this leg's GitHub reporting, or nil when it is off: outside
// Actions, with `comment: false`, or when the event cannot be read.
func (a *app) reporter(run *config.Run) *ghreport.Reporter {
	if !a.inGHA || !run.Comment {
		return nil
	}
	ev, _, err := a.ghEvent(run)
	if err != nil {
		a.warn("GitHub reporting is off: " + err.Error())
		return nil
	}
	if ev.HeadSHA == "" {
		// A leg reports the commit it tested, whatever the PR's head is.
		ev.HeadSHA = run.HeadSHA
	}
	r, err := ghreport.New(a.ghConfig(run, ev, startBudget))
	if err != nil {
		a.warn("GitHub reporting is off: " + err.Error())
		return nil
	}
	return r
}

func (a *app) ghConfig(run *config.Run, ev ghreport.Event, call time.Duration) ghreport.Config {
	return ghreport.Config{
		Token: run.GitHubToken, APIURL: run.GitHubAPIURL, Event: ev, Logger: a.reportLog, Budget: waitShare(call),
		// A leg's final report gets its own reserve's share (see
		// finishReserve); report mode makes no such call.
		FinalBudget: waitShare(finishReserve),
		Clock:       ghClock{sleep: a.ghSleep},
		CheckRunID:  run.CheckRunID,
		// 0 keeps the production read-back delays.
		Settle: a.ghWait(run.GitHubAPIURL), Quiet: a.ghWait(run.GitHubAPIURL),
		SkipComment: !run.Comment,
	}
}

// ghClock is the GitHub reporting's clock: the real one, waiting with sleep
// when it is set (a.ghSleep: tests inject one that does not wait).
type ghClock struct {
	ghreport.WallClock
	sleep func(context.Context, time.Duration) error
}

func (c ghClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.sleep == nil {
		return c.WallClock.Sleep(ctx, d)
	}
	return c.sleep(ctx, d)
}

// ghWait is the sticky comment's read-back waits (ghreport's Settle and
// Quiet), or 0 for the production ones. The comment keeps every leg's row
// only while GitHub's read lag stays under Quiet/8 (see ghreport's
// sticky.go), so MVM_VERIFY_POLL_INTERVAL, which people also set to hurry
// provider polls, shortens them only against a GitHub API on a loopback
// address: the fake GitHub of tests, whose lag is what the test makes it.
// Against GitHub, or GHES anywhere else, the waits stay the production
// ones whatever the variable says.
func (a *app) ghWait(apiURL string) time.Duration {
	if !loopbackURL(apiURL) {
		return 0
	}
	return a.pollInterval()
}

// loopbackURL reports whether raw's host is a loopback address (or
// localhost).
func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// notice prints a reporting outcome's notice; reporting never fails a leg.
// GitHub refusing the leg (a fork, a read-only token) is said once, not at
// Start, Update and Finish each; any other notice is printed once per text.
func (a *app) notice(o ghreport.Outcome) {
	if o.Notice == "" {
		return
	}
	if a.notices.shown(o) {
		a.log.Info("GitHub reporting", "notice", o.Notice)
		return
	}
	a.annotate("notice", "mvm-verify reporting", o.Notice)
}

// shown records o's notice as shown and says whether it had been: the
// same text, or for a leg GitHub refuses (Off), any such notice before.
func (n *shownNotices) shown(o ghreport.Outcome) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.text == nil {
		n.text = map[string]bool{}
	}
	seen := n.text[o.Notice] || (o.Off && n.offTold)
	n.text[o.Notice] = true
	n.offTold = n.offTold || o.Off
	return seen
}

// reportStart marks the leg pending on GitHub (status and ⏳ row) beside
// the cycle, which need not wait for GitHub. The Reporter orders the leg's
// reports: the progress update and the final row wait until the pending
// status has been answered, and cut Start's ⏳ row short, as theirs
// replace it. wait returns once Start is over and its notice printed.
func (a *app) reportStart(ctx context.Context, r *ghreport.Reporter, row matrix.Row) (wait func()) {
	if r == nil {
		return func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, startBudget)
	started := r.StartAsync(ctx, row)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		out := <-started
		if out.Canceled {
			// Superseded by the leg's next report, or the run was
			// interrupted: nothing is wrong with the reporting.
			a.log.Info("pending report ended early: superseded or interrupted")
			return
		}
		a.notice(out)
	}()
	return func() { <-done }
}

// reportProgress updates the leg's row once, when its host is ready: the
// preflight has passed and the suite is about to run, which is the long
// part. The update runs beside the cycle; the returned func ends it (the
// cycle is over, the final row follows and supersedes it) and waits for it,
// so it cannot land after the final row nor hold the final row back: its
// time is not reserved out of timeout-minutes.
func (a *app) reportProgress(ctx context.Context, r *ghreport.Reporter, plan *verify.Plan) (stop func()) {
	if r == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var once sync.Once
	var wg sync.WaitGroup
	plan.OnProgress = func(res *verify.Result) {
		if p := res.Phase(verify.PhaseReady); p == nil || p.Status != matrix.Pass {
			return
		}
		once.Do(func() {
			row := matrix.Row{Key: res.Identity.Key, Provider: res.Display, Lane: res.Lane, HeadSHA: res.Identity.HeadSHA}
			row.Set(matrix.Preflight, matrix.Pass, "")
			row.Set(matrix.LiveCycle, matrix.Pending, "running")
			row.Set(matrix.SeccompProbe, matrix.Pending, "")
			if res.Host != nil {
				row.Notes = "host ready: " + res.Host.Type
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				uctx, done := context.WithTimeout(ctx, progressBudget)
				defer done()
				out := r.Update(uctx, row)
				if out.Canceled {
					// Cut short because the cycle ended: the final row
					// follows. Not degraded reporting, so no notice; a
					// real failure before that was warned of already.
					a.log.Info("progress update ended with the cycle")
					return
				}
				a.notice(out)
			}()
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// finishFloor is the least time the final report gets when timeout-minutes
// is (nearly) used up: enough for a status without rate limits. A report
// it cut short is not lost: the state is saved as not reported, and the
// post step posts the row again.
const finishFloor = 10 * time.Second

// reportFinish posts the leg's final row. It runs even after a signal (the
// result must not be lost), within the time kept back for it, and within
// what is left of timeout-minutes (but at least finishFloor): a cycle that
// used more than its share (see cycleTimeout) does not push the step past
// timeout-minutes by a whole finishReserve. ok is false when reporting is
// off. The commit status goes first, so a kill during the comment's
// confirmation still leaves it settled.
func (a *app) reportFinish(ctx context.Context, r *ghreport.Reporter, run *config.Run, row matrix.Row) (out ghreport.Outcome, ok bool) {
	if r == nil {
		return out, false
	}
	now := a.clock()
	end := a.start.Add(time.Duration(run.TimeoutMinutes) * time.Minute)
	deadline := now.Add(min(finishReserve, max(end.Sub(now), finishFloor)))
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	out = r.Finish(ctx, row)
	a.notice(out)
	return out, true
}

// cycleTimeout is the cycle's share of timeout-minutes. With GitHub
// reporting on, it is what is left after the time this process has already
// spent (elapsed; the Start report runs beside the cycle) and after the
// reserve for the final report, in whole seconds. It never drops below the
// teardown budget plus a minute, the least config lets timeout-minutes be:
// with timeout-minutes that tight (under about teardown-budget plus three
// minutes) the cycle may use the final report's reserve and more, up to
// elapsed past timeout-minutes, and reportFinish then gives the final
// report only finishFloor. Without reporting the cycle has the whole
// timeout, as before.
func cycleTimeout(run *config.Run, reporting bool, elapsed time.Duration) time.Duration {
	total := time.Duration(run.TimeoutMinutes) * time.Minute
	if !reporting {
		return total
	}
	left := (total - elapsed - finishReserve).Truncate(time.Second)
	return max(left, run.TeardownBudget+time.Minute)
}

// report is `mode: report`: the aggregating job after every leg. It writes
// the authoritative matrix to the comment (unless comment: false), the job
// summary, the `matrix` output, matrix.md / matrix.json in --out, and the
// docs file if asked. Without a repository (outside Actions, no
// github-repository input) it writes what it knows: the expected rows as ?.
func (a *app) report(ctx context.Context, run *config.Run) int {
	var rows []matrix.Row
	var out ghreport.Outcome
	var docsErr error
	unread := false // GitHub was to be read, and was not
	ev, pinned, evErr := a.ghEvent(run)
	switch {
	case evErr != nil:
		a.warn("cannot read the workflow event, so the matrix is not read from GitHub: " + evErr.Error())
		rows = ghreport.Placeholders(run.Expect, run.HeadSHA)
	case ev.Repo == "":
		out.HeadSHA = ev.HeadSHA
		rows = ghreport.Placeholders(run.Expect, ev.HeadSHA)
		msg := "no repository to read the matrix from (input github-repository, default GITHUB_REPOSITORY in Actions): " +
			"the matrix holds the expected rows only"
		if run.MatrixFile != "" {
			// A table of nothing but ? would only erase what the file knows.
			msg += "; " + run.MatrixFile + " was left alone"
		}
		a.notice(ghreport.Outcome{Degraded: true, Notice: msg})
	default:
		budget := min(reportBudget, time.Duration(run.TimeoutMinutes)*time.Minute-time.Since(a.start))
		cfg := a.ghConfig(run, ev, budget)
		cfg.PinHead = pinned
		if !a.inGHA {
			// No job summary here: the notices say where the matrix is.
			cfg.KeptIn = "written to " + filepath.Join(run.Out, "matrix.md")
		}
		r, err := ghreport.New(cfg)
		if err != nil {
			return a.badInput(err)
		}
		ctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		rows, out, docsErr = r.Report(ctx, run.Expect, run.MatrixFile)
		a.notice(out)
		unread = !out.Read
	}
	md := ghreport.Summary(rows, out.HeadSHA)
	if rows == nil {
		rows = []matrix.Row{} // a list, also when empty: readers iterate it
	}
	data, err := json.Marshal(rows)
	if err != nil {
		fmt.Fprintf(a.stderr, "mvm-verify report: encode matrix: %v\n", err)
		return ExitFailed
	}
	if err := mkOut(run.Out, a.outTrust()...); err != nil {
		return a.badInput(err)
	}
	for name, content := range map[string]string{"matrix.md": md, "matrix.json": string(data) + "\n"} {
		if err := os.WriteFile(filepath.Join(run.Out, name), []byte(content), 0o644); err != nil {
			fmt.Fprintf(a.stderr, "mvm-verify report: write %s: %v\n", name, err)
			return ExitFailed
		}
	}
	a.files.setOutput("matrix", string(data))
	a.files.addSummary(md)
	if !a.inGHA {
		fmt.Fprint(a.stdout, terminalText(md))
	}
	if unread {
		// The notice says why; this says what it means for the matrix,
		// which exit status 0 would not.
		what := "holds only the rows expect names, each ? (no result)"
		if len(run.Expect) == 0 {
			what = "is empty"
		}
		fmt.Fprintf(a.stdout, "nothing was read from GitHub (%s), so this matrix %s\n", ev.Repo, what)
	}
	if !a.inGHA {
		fmt.Fprintf(a.stdout, "matrix: %s\n        %s\n", filepath.Join(run.Out, "matrix.md"), filepath.Join(run.Out, "matrix.json"))
	}
	var refused *ghreport.InputError
	if errors.As(docsErr, &refused) {
		// The file config checked is no longer one the report can read or
		// rewrite (it changed while the report ran): the input's fault,
		// as at load. The matrix is written above all the same.
		return a.badInput(docsErr)
	}
	if docsErr != nil {
		// Writing a good file failed: no fault of the input.
		fmt.Fprintf(a.stderr, "mvm-verify report: %v\n", docsErr)
		return ExitFailed
	}
	switch {
	case out.FileRewritten:
		fmt.Fprintf(a.stdout, "rewrote the matrix in %s\n", run.MatrixFile)
	case run.MatrixFile != "":
		// Nothing was read from GitHub, or nothing about this commit: the
		// notice says which.
		fmt.Fprintf(a.stdout, "left %s as it was: the report had nothing new for it\n", run.MatrixFile)
	}
	return ExitOK
}
