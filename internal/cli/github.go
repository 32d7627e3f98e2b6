package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// githubBudget bounds one reporting call, so a slow or rate-limited API
// can delay a leg by at most this much and never fail it.
const githubBudget = 2 * time.Minute

// reporter is this leg's GitHub reporting, or nil when it is off: outside
// Actions, with `comment: false`, or when the event cannot be read.
func (a *app) reporter(run *config.Run) *ghreport.Reporter {
	if !a.inGHA || !run.Comment {
		return nil
	}
	ev, err := ghreport.LoadEvent(a.env.Getenv("GITHUB_EVENT_PATH"), a.env.Getenv)
	if err != nil {
		a.warn("GitHub reporting is off: " + err.Error())
		return nil
	}
	r, err := ghreport.New(a.ghConfig(run, ev))
	if err != nil {
		a.warn("GitHub reporting is off: " + err.Error())
		return nil
	}
	return r
}

func (a *app) ghConfig(run *config.Run, ev ghreport.Event) ghreport.Config {
	return ghreport.Config{
		Token: run.GitHubToken, APIURL: run.GitHubAPIURL, Event: ev, Logger: a.log, Budget: githubBudget,
		Settle: a.pollInterval(), // 0 keeps the production read-back delay
	}
}

// notice prints a reporting outcome's notice; reporting never fails a leg.
func (a *app) notice(o ghreport.Outcome) {
	if o.Notice == "" {
		return
	}
	a.annotate("notice", "mvm-verify reporting", o.Notice)
}

// reportStart marks the leg pending on GitHub (status and ⏳ row).
func (a *app) reportStart(ctx context.Context, r *ghreport.Reporter, row matrix.Row) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, githubBudget)
	defer cancel()
	a.notice(r.Start(ctx, row))
}

// reportProgress updates the leg's row once, when its host is ready: the
// preflight has passed and the suite is about to run, which is the long
// part. The update runs beside the cycle; the returned func waits for it,
// so it cannot land after the final row.
func (a *app) reportProgress(ctx context.Context, r *ghreport.Reporter, plan *verify.Plan) (wait func()) {
	if r == nil {
		return func() {}
	}
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
				ctx, cancel := context.WithTimeout(ctx, githubBudget)
				defer cancel()
				a.notice(r.Update(ctx, row))
			}()
		})
	}
	return wg.Wait
}

// reportFinish posts the leg's final row. It runs even after a signal (the
// result must not be lost), within its own short budget.
func (a *app) reportFinish(ctx context.Context, r *ghreport.Reporter, row matrix.Row) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), githubBudget)
	defer cancel()
	a.notice(r.Finish(ctx, row))
}

// report is `mode: report`: the aggregating job after every leg. It writes
// the authoritative matrix to the comment, the job summary, the `matrix`
// output, matrix.md / matrix.json in --out, and the docs file if asked.
func (a *app) report(ctx context.Context, run *config.Run) int {
	var rows []matrix.Row
	var out ghreport.Outcome
	var docsErr error
	ev, evErr := ghreport.LoadEvent(a.env.Getenv("GITHUB_EVENT_PATH"), a.env.Getenv)
	if evErr != nil {
		a.warn("cannot read the workflow event, so the matrix is not read from GitHub: " + evErr.Error())
	} else {
		r, err := ghreport.New(a.ghConfig(run, ev))
		if err != nil {
			return a.badInput(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 2*githubBudget)
		defer cancel()
		rows, out, docsErr = r.Report(ctx, run.Expect, run.MatrixFile)
		a.notice(out)
	}
	md := ghreport.Summary(rows, out.HeadSHA)
	data, err := json.Marshal(rows)
	if err != nil {
		fmt.Fprintf(a.stderr, "mvm-verify report: encode matrix: %v\n", err)
		return ExitFailed
	}
	if err := os.MkdirAll(run.Out, 0o755); err != nil {
		return a.badInput(fmt.Errorf("input \"out\": cannot create %q: %w", run.Out, err))
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
		fmt.Fprint(a.stdout, md)
	}
	if docsErr != nil {
		fmt.Fprintf(a.stderr, "mvm-verify report: %v\n", docsErr)
		return ExitFailed
	}
	if run.MatrixFile != "" {
		fmt.Fprintf(a.stdout, "rewrote the matrix in %s\n", run.MatrixFile)
	}
	return ExitOK
}
