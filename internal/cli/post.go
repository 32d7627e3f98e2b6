package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// The action's post step: tear down by tag from STATE_*, then end the
// leg on GitHub.

// post is the action's post step (post-if: always()). It tears down by tag
// from STATE_* alone, so it works after a main step that was killed, then
// checks nothing is left. Its inputs are the main step's INPUT_*.
func (a *app) post(ctx context.Context) int {
	get := a.env.Getenv
	providerName, idJSON := get("STATE_provider"), get("STATE_identity")
	if providerName == "" || idJSON == "" {
		fmt.Fprintln(a.stdout, "mvm-verify post: the main step created nothing (no state saved); nothing to tear down")
		return ExitOK
	}
	var id providers.Identity
	if err := json.Unmarshal([]byte(idJSON), &id); err != nil || id.RunID == "" || id.Key == "" {
		// Main saved state, so it may have created something: without
		// the identity nothing can be found by its tags, and a green step
		// would hide what is left.
		why := "it names no run or no key"
		if err != nil {
			why = "not JSON: " + err.Error()
		}
		msg := fmt.Sprintf(`the main step's saved identity (state "identity") is not a leg's identity (%s): nothing was torn down, and what the main step created may be left`, why)
		if runID := get("GITHUB_RUN_ID"); runID != "" {
			run := providers.Identity{RunID: runID, RunAttempt: get("GITHUB_RUN_ATTEMPT")}.Run()
			msg += fmt.Sprintf(" (on %s, tagged %s=%s)", providerName, providers.TagRun, run)
		}
		fmt.Fprintf(a.stderr, "mvm-verify post: %s\n", msg)
		a.annotate("error", "mvm-verify post", msg)
		a.files.addSummary("### mvm-verify teardown\n\n- ❌ " + msg + "\n\n")
		return ExitFailed
	}
	if _, err := a.pollIntervalOverride(); err != nil {
		// The main step refused it before saving any state; here it can
		// only have come later (a step's GITHUB_ENV). What main created
		// is torn down all the same, at the production intervals:
		// refusing would leave it.
		a.warn(err.Error() + "; tearing down at the production intervals")
	}
	src := actionSource(a.files.gha)
	run, err := config.LoadWith(src, config.Options{Providers: registry().Names(), Mode: "down", Provider: providerName, Getenv: get})
	if err != nil {
		return a.badInput(err)
	}
	a.maskSecrets(run)
	p, err := a.provider(run, providerName)
	if err != nil {
		// A provider refusing its inputs is bad input; a factory failing
		// for another reason (none of ours does yet) could not start.
		return a.notStarted(err)
	}
	// The runner gives post steps their own time; the teardown budget bounds
	// it so a hung API cannot hold the job.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), run.TeardownBudget)
	defer cancel()
	alreadyDown := get("STATE_torn-down") == "true"
	teardown := verify.PhaseResult{Name: verify.PhaseTeardown, Status: matrix.Pass, Started: time.Now()}
	hostCode, hostText, hostProblem := a.postUndoOnHost(ctx, p, providerName, id)
	code, text, problem := a.destroy(ctx, p, id, !alreadyDown, "")
	if hostCode != ExitOK {
		code = hostCode
		if problem == "" {
			problem = hostProblem
		} else {
			problem = hostProblem + "; " + problem
		}
	}
	teardown.Duration = time.Since(teardown.Started)
	if code != ExitOK {
		teardown.Status, teardown.Error = matrix.Fail, problem
	}
	a.files.addSummary(hostText + text)
	removeState := false // up's state in --out, once the leg is reported
	switch outcome := get("STATE_outcome"); {
	case outcome == "":
		// Main never finished: the job summary still gets the leg's row,
		// with or without GitHub reporting.
		a.files.addSummary(abandonedSummary(run, id, code))
	case outcome == string(verify.Up):
		removeState = a.endUpInOut(run, providerName, id, teardown, code)
	default:
		if sum := unsummarized(get, run, id, code); sum != "" {
			// Main had its verdict but was killed before its summary (in
			// its teardown): the row it would have written.
			a.files.addSummary(sum)
		}
	}
	a.reportFromPost(ctx, run, id, code)
	if removeState {
		// As down, once the leg is reported: the host is gone, and the
		// state was kept for nothing but reaching it.
		a.removeLegState(run.Out)
		fmt.Fprintf(a.stdout, "removed the kept host's state (host.json, its keys) from %s\n", hostDir(run.Out))
	}
	return code
}

// postUpNote is the note the up step's post step ends its leg with: no
// verdict came, and the host is gone (or its teardown failed); code is
// the teardown's exit status.
func postUpNote(code int) string {
	if code != ExitOK {
		return "host kept by up; the suite was not run; the teardown at the job's end failed (see the job)"
	}
	return "host kept by up, torn down at the job's end; the suite was not run"
}

// endUpInOut ends, in --out, the leg `up` kept there, once the post step
// has torn its host down, as `down` would have: result.json and summary.md
// rewritten with the leg's final row — the one posted as its commit
// status — and the job summary showing it. It reports whether the kept
// host's state is to be removed, as down removes it: once the teardown
// and leak check are clean (code ExitOK), so that --out keeps no private
// key of a host that is gone and the next leg into it is not refused.
// When they are not, the state stays for down to try again, and the job
// says so.
func (a *app) endUpInOut(run *config.Run, providerName string, id providers.Identity, teardown verify.PhaseResult, code int) bool {
	if code == ExitOK && a.downReported(run, id) {
		// down tore the host down, ended the leg (its note is the
		// accurate one) and removed the state: all stands.
		return false
	}
	note := postUpNote(code)
	st, err := a.upStateOf(run.Out, id)
	if err != nil {
		// An --out another user could write into: nothing of it is
		// trusted, nor written, nor removed.
		a.warn(fmt.Sprintf("the kept host's state in %s is left as it is: %v", hostDir(run.Out), err))
		a.files.addSummary(keptSummary(run, id, note))
		return false
	}
	saved := savedResult(run.Out, id)
	if st == nil && (saved == nil || saved.Ended != nil) {
		// Nothing of the leg's in --out to end: a down that ran without
		// reporting ended it there, or up never wrote its result. The
		// job summary still shows the row the post step posts.
		a.files.addSummary(keptSummary(run, id, note))
		return false
	}
	if st != nil && code != ExitOK {
		// Under the teardown that failed, above the row.
		cmd, keyNote := downCommand(run.Out, st)
		msg := fmt.Sprintf("the kept host's state stays in %s, for a down to try the teardown again: "+
			"the action with mode: down and this out, or %s", hostDir(run.Out), cmd)
		if keyNote != "" {
			msg += " (" + keyNote + ")"
		}
		a.annotate("warning", "mvm-verify post", msg)
		a.files.addSummary("- ⚠️ " + msg + "\n\n")
	}
	legSt := st
	if legSt == nil {
		legSt = &upState{Provider: providerName, Identity: id}
	}
	if _, err := a.writeLegEnd(run, legSt, saved, teardown, note, legKept); err != nil {
		a.resultNotSaved(run.Out, err)
	}
	return st != nil && code == ExitOK
}

// upStateOf is the state up kept in out if it is the leg id's; nil when
// out holds none, or another leg's. The error is an --out this user does
// not alone control (see readStateFile).
func (a *app) upStateOf(out string, id providers.Identity) (*upState, error) {
	data, err := readStateFile(out, a.outTrust()...)
	var inErr *config.InputError
	if errors.As(err, &inErr) {
		return nil, err
	}
	var st upState
	if err != nil || json.Unmarshal(data, &st) != nil || st.Identity.Name() != id.Name() {
		return nil, nil
	}
	return &st, nil
}

// keptSummary is the job summary's row for a leg up kept, as the post step
// ends it, when --out holds no result of the leg's to show it.
func keptSummary(run *config.Run, id providers.Identity, note string) string {
	row := matrix.Row{Key: id.Key, Provider: cmp.Or(run.Display, matrix.DisplayName(id.Key)), Lane: run.Lane,
		Cells: map[matrix.Column]matrix.Cell{matrix.Preflight: {Status: matrix.Pass}, matrix.LiveCycle: {Status: matrix.NotRun}},
		Notes: note}
	return "### mvm-verify: " + row.Provider + "\n\n" + matrix.Table([]matrix.Row{row}) + "\n"
}

// abandonedSummary is the job summary's row for a leg whose main step ended
// without a result: its live cycle ❌, the rest unknown.
func abandonedSummary(run *config.Run, id providers.Identity, teardownCode int) string {
	note := "main step ended without a result; torn down by the post step"
	if teardownCode != ExitOK {
		note = "main step ended without a result; the post step's teardown failed (see above)"
	}
	row := matrix.Row{Key: id.Key, Provider: cmp.Or(run.Display, matrix.DisplayName(id.Key)),
		Cells: map[matrix.Column]matrix.Cell{matrix.LiveCycle: {Status: matrix.Fail}}, Notes: note}
	return "### mvm-verify: " + row.Provider + "\n\n" + matrix.Table([]matrix.Row{row}) + "\n"
}

// postUndoOnHost does the host-side cleanups main's teardown did not do
// (it was killed, or they failed), on a host we did not create: its
// provider's destroy deletes nothing there, so without this the suite's
// user, its sudo rule and the probe binary would stay, and the suite's
// processes would keep running. A host the provider created is removed by
// the destroy, with everything on it. It returns the exit status, a
// summary section ("" when there was nothing to do) and, when it failed,
// what went wrong in one line.
func (a *app) postUndoOnHost(ctx context.Context, p providers.Provider, providerName string, id providers.Identity) (int, string, string) {
	raw := a.env.Getenv("STATE_" + hostCleanupsKey)
	if raw == "" {
		return ExitOK, "", ""
	}
	if e, err := registry().Get(providerName); err != nil || e.Info.Creates {
		// The destroy removes the host, and with it whatever the saved
		// cleanups would undo, damaged or not.
		return ExitOK, "", ""
	}
	var hs hostCleanupsState
	if err := json.Unmarshal([]byte(raw), &hs); err != nil {
		msg := fmt.Sprintf("the saved host cleanups (state %q) are not valid JSON (%v): whatever the run changed on the host may be left", hostCleanupsKey, err)
		a.annotate("error", "mvm-verify post", msg)
		fmt.Fprintf(a.stderr, "mvm-verify post: %s\n", msg)
		return ExitFailed, "### mvm-verify host cleanup\n\n- ❌ " + msg + "\n\n", msg
	}
	if len(hs.Cleanups) == 0 {
		return ExitOK, "", ""
	}
	var b strings.Builder
	b.WriteString("### mvm-verify host cleanup\n\n")
	st := &upState{Provider: providerName, Identity: id, Host: &hs.Host, HostCleanups: hs.Cleanups}
	if err := a.undoOnHost(ctx, p, st); err != nil {
		var names []string
		for i := len(hs.Cleanups) - 1; i >= 0; i-- {
			names = append(names, hs.Cleanups[i].Name)
		}
		msg := fmt.Sprintf("changes may be left on %s (%s): %v", hs.Host.Address, strings.Join(names, ", "), err)
		a.annotate("error", "mvm-verify post", msg)
		fmt.Fprintf(a.stderr, "mvm-verify post: %s\n", msg)
		fmt.Fprintf(&b, "- ❌ %s\n\n", msg)
		return ExitFailed, b.String(), msg
	}
	fmt.Fprintf(a.stdout, "✓ undid what main's teardown had not on %s\n", hs.Host.Address)
	for i := len(hs.Cleanups) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "- ✅ %s\n", hs.Cleanups[i].Name)
	}
	b.WriteString("\n")
	return ExitOK, b.String(), ""
}

// reportFromPost settles on GitHub what main left unsettled, after teardown,
// which matters more, within the time a final row gets:
//   - main never finished (killed, timed out): Abandon, an error status and
//     the row's unsettled cells as ?;
//   - main finished but was killed before its final row was posted (a
//     cancel's SIGKILL follows within seconds): that row, saved in state,
//     is posted again (failed, if this teardown failed); a saved outcome
//     whose row is unusable is posted as a row built from the outcome;
//   - main was `up`: its host is gone now, so its pending status ends
//     (EndKept), unless `down` already ended it (downReportedFile).
func (a *app) reportFromPost(ctx context.Context, run *config.Run, id providers.Identity, teardownCode int) {
	get := a.env.Getenv
	outcome := get("STATE_outcome")
	var saved *matrix.Row
	unusable := "" // why main's saved row was not taken, when it was not
	if outcome != "" && outcome != string(verify.Up) {
		if get("STATE_reported") == "true" {
			return
		}
		var row matrix.Row
		switch err := json.Unmarshal([]byte(get("STATE_row")), &row); {
		case err != nil:
			unusable = fmt.Sprintf("not a row (%v)", err)
		case row.Key != id.Key:
			unusable = fmt.Sprintf("its key %q is not the leg's %q", row.Key, id.Key)
		default:
			saved = &row
		}
	}
	if id.HeadSHA != "" {
		// The commit main tested, even if the event's head moved since.
		run.HeadSHA = id.HeadSHA
	}
	r := a.reporter(run)
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishReserve)
	defer cancel()
	row := matrix.Row{Key: id.Key, Provider: run.Display, Lane: run.Lane}
	if row.Provider == "" {
		row.Provider = matrix.DisplayName(id.Key)
	}
	if unusable != "" {
		// Main finished with an outcome: its verdict is known even
		// without the row, and "ended without a result" would be wrong.
		a.log.Warn("the main step's saved row is unusable; reporting the leg from its outcome",
			"reason", unusable, "outcome", outcome)
		rebuilt := rowFromOutcome(row, verify.Outcome(outcome))
		saved = &rebuilt
	}
	switch {
	case saved != nil:
		if teardownCode != ExitOK {
			// Main's row predates this teardown: a leg that left
			// something behind is not green, as main's own teardown
			// failing would have made it.
			saved = teardownFailed(*saved)
		}
		out := r.Finish(ctx, *saved)
		a.notice(out)
		if out.StatusPosted {
			fmt.Fprintf(a.stdout, "reported %s's final row with this teardown's result (status %s)\n",
				id.Key, ghreport.StatusState(*saved))
		}
	case outcome == string(verify.Up) && teardownCode == ExitOK && a.downReported(run, id):
		fmt.Fprintf(a.stdout, "%s was already ended by down; its report stands\n", id.Key)
	case outcome == string(verify.Up):
		out := r.EndKept(ctx, row, postUpNote(teardownCode))
		a.notice(out)
		if out.StatusPosted {
			fmt.Fprintf(a.stdout, "reported %s as ended without a verdict: the host up kept is gone (status error)\n", id.Key)
		}
	default:
		note := "main step ended without a result; torn down by the post step"
		if teardownCode != ExitOK {
			note = "main step ended without a result; the post step's teardown failed (see the job)"
		}
		out := r.Abandon(ctx, row, note)
		a.notice(out)
		if out.StatusPosted {
			fmt.Fprintf(a.stdout, "reported %s as ended without a result (status error)\n", id.Key)
		}
	}
}

// rowFromOutcome is the leg's row as far as main's outcome tells it: the
// live cycle's verdict; the other cells stay unknown.
func rowFromOutcome(row matrix.Row, outcome verify.Outcome) matrix.Row {
	switch outcome {
	case verify.Verified:
		row.Set(matrix.Preflight, matrix.Pass, "")
		row.Set(matrix.LiveCycle, matrix.Pass, "")
	case verify.Incomplete:
		row.Set(matrix.LiveCycle, matrix.NotRun, "(incomplete)")
	case verify.Cancelled:
		row.Set(matrix.LiveCycle, matrix.Fail, "cancelled")
	case verify.TimedOut:
		row.Set(matrix.LiveCycle, matrix.Fail, "timed out")
	default: // failed, error, or an outcome this version does not know
		row.Set(matrix.LiveCycle, matrix.Fail, "")
	}
	row.Notes = fmt.Sprintf("main step ended %s; its full row was lost, so other cells are unknown (see the job)", outcome)
	return row
}

// teardownFailed is row with its live cycle failed (keeping why main
// failed it, if it did) and a note that the post step's teardown failed.
func teardownFailed(row matrix.Row) *matrix.Row {
	cells := make(map[matrix.Column]matrix.Cell, len(row.Cells))
	maps.Copy(cells, row.Cells)
	row.Cells = cells
	if row.Cell(matrix.LiveCycle).Status != matrix.Fail {
		row.Set(matrix.LiveCycle, matrix.Fail, "teardown failed")
	}
	const note = "teardown by the post step failed (see the job)"
	if row.Notes == "" {
		row.Notes = note
	} else {
		row.Notes = note + "; " + row.Notes
	}
	return &row
}
