package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

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
		return a.badInput(err)
	}
	// The runner gives post steps their own time; the teardown budget bounds
	// it so a hung API cannot hold the job.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), run.TeardownBudget)
	defer cancel()
	alreadyDown := get("STATE_torn-down") == "true"
	hostCode, hostText := a.postUndoOnHost(ctx, p, providerName, id)
	code, text, _ := a.destroy(ctx, p, id, !alreadyDown, "")
	if hostCode != ExitOK {
		code = hostCode
	}
	a.files.addSummary(hostText + text)
	if get("STATE_outcome") == "" {
		// Main never finished: the job summary still gets the leg's row,
		// with or without GitHub reporting.
		a.files.addSummary(abandonedSummary(run, id, code))
	} else if sum := unsummarized(get, run, id, code); sum != "" {
		// Main had its verdict but was killed before its summary (in
		// its teardown): the row it would have written.
		a.files.addSummary(sum)
	}
	a.reportFromPost(ctx, run, id, code)
	return code
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
// the destroy, with everything on it. It returns the exit status and a
// summary section ("" when there was nothing to do).
func (a *app) postUndoOnHost(ctx context.Context, p providers.Provider, providerName string, id providers.Identity) (int, string) {
	raw := a.env.Getenv("STATE_" + hostCleanupsKey)
	if raw == "" {
		return ExitOK, ""
	}
	if e, err := registry().Get(providerName); err != nil || e.Info.Creates {
		// The destroy removes the host, and with it whatever the saved
		// cleanups would undo, damaged or not.
		return ExitOK, ""
	}
	var hs hostCleanupsState
	if err := json.Unmarshal([]byte(raw), &hs); err != nil {
		msg := fmt.Sprintf("the saved host cleanups (state %q) are not valid JSON (%v): whatever the run changed on the host may be left", hostCleanupsKey, err)
		a.annotate("error", "mvm-verify post", msg)
		fmt.Fprintf(a.stderr, "mvm-verify post: %s\n", msg)
		return ExitFailed, "### mvm-verify host cleanup\n\n- ❌ " + msg + "\n\n"
	}
	if len(hs.Cleanups) == 0 {
		return ExitOK, ""
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
		return ExitFailed, b.String()
	}
	fmt.Fprintf(a.stdout, "✓ undid what main's teardown had not on %s\n", hs.Host.Address)
	for i := len(hs.Cleanups) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "- ✅ %s\n", hs.Cleanups[i].Name)
	}
	b.WriteString("\n")
	return ExitOK, b.String()
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
		note := "host kept by up, torn down at the job's end; the suite was not run"
		if teardownCode != ExitOK {
			note = "host kept by up; the suite was not run; the teardown at the job's end failed (see the job)"
		}
		out := r.EndKept(ctx, row, note)
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

// downReported reports whether `down` already tore down this leg's kept
// host and ended the leg on GitHub.
func (a *app) downReported(run *config.Run, id providers.Identity) bool {
	b, err := os.ReadFile(filepath.Join(run.Out, downReportedFile))
	return err == nil && strings.TrimSpace(string(b)) == id.Name()
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

// destroy deletes the identity's resources (unless already done) and runs
// the leak check. It returns the exit status, a summary section and, when
// it failed, what went wrong in one line. again, when set, says how to try
// again (down's command): it ends the message of a leak check that could
// not be confirmed.
func (a *app) destroy(ctx context.Context, p providers.Provider, id providers.Identity, doDestroy bool, again string) (int, string, string) {
	var b strings.Builder
	b.WriteString("### mvm-verify teardown\n\n")
	code := ExitOK
	var problems []string
	if doDestroy {
		fmt.Fprintf(a.stdout, "==> teardown %s run %s key %s\n", p.Name(), id.Run(), id.Key)
		// The leak check after the destroy keeps its share of the time, as
		// in the cycle: a destroy that uses all it is given (a young run's
		// quiet sweeps, a slow delete) must not leave the check too little
		// to confirm, which would fail a clean teardown.
		dctx, cancel := providers.ReserveLeakCheck(ctx, p, id)
		rep, err := p.Destroy(dctx, id)
		cancel()
		for _, d := range rep.Deleted {
			fmt.Fprintf(a.stdout, "   deleted %s %s\n", d.Kind, d.ID)
			fmt.Fprintf(&b, "- deleted %s `%s`\n", d.Kind, d.ID)
		}
		if err != nil {
			code = ExitFailed
			msg := providers.Message(err) // without the class (transient:, auth:)
			problems = append(problems, "teardown: "+msg)
			a.annotate("error", "mvm-verify teardown", msg)
			fmt.Fprintf(&b, "- ❌ teardown error: %s\n", msg)
		}
	} else {
		b.WriteString("- the main step already tore everything down\n")
	}
	leaks, err := providers.LeakCheck(ctx, p, id)
	switch {
	case errors.Is(err, providers.ErrLeakCheckUnconfirmed):
		// Nothing listed, but too briefly to trust for a run this young,
		// and no later sweep comes after this one: not a clean teardown.
		code = ExitFailed
		msg := providers.Message(err) + "; resources created moments ago may not be listed yet: " + verify.SweepHint(id)
		if again != "" {
			msg += "; " + again
		}
		problems = append(problems, msg)
		a.annotate("error", "mvm-verify leak check", msg)
		fmt.Fprintf(&b, "- ⏳ %s\n", msg)
	case err != nil:
		code = ExitFailed
		msg := providers.Message(err)
		problems = append(problems, "leak check: "+msg)
		a.annotate("error", "mvm-verify leak check", msg)
		fmt.Fprintf(&b, "- ❌ leak check failed: %s\n", msg)
	case len(leaks) > 0:
		code = ExitFailed
		var ids []string
		for _, l := range leaks {
			ids = append(ids, l.Kind+" "+l.ID)
		}
		msg := "resources still present after teardown: " + strings.Join(ids, ", ")
		problems = append(problems, "LEAKED: "+msg)
		a.annotate("error", "mvm-verify leak check", msg)
		fmt.Fprintf(&b, "- ❌ **LEAKED**: %s\n", msg)
	default:
		fmt.Fprintln(a.stdout, "✓ leak check: nothing tagged with this run is left")
		b.WriteString("- ✅ leak check: nothing tagged with this run is left\n")
	}
	return code, b.String() + "\n", strings.Join(problems, "; ")
}

func (a *app) provider(run *config.Run, name string) (providers.Provider, error) {
	reg := registry()
	entry, err := reg.Get(name)
	if err != nil {
		return nil, &config.InputError{Input: "provider", Value: name, Expected: "one of " + strings.Join(reg.Names(), ", ")}
	}
	return entry.New(a.providerOptions(run))
}

// upState is what `up` leaves for `down` and for the user: enough to reach
// the host and to find its resources again.
type upState struct {
	Provider string             `json:"provider"`
	Identity providers.Identity `json:"identity"`
	Inputs   map[string]string  `json:"inputs"`
	Host     *verify.HostInfo   `json:"host"`
	KeyFile  string             `json:"key_file"`
	Known    string             `json:"known_hosts_file"`
	// HostCleanups undo what the cycle changed on the host over SSH (a
	// suite user it created, the probe binary): `down` runs them before
	// the provider's destroy, which on a host we did not create is all
	// that removes them.
	HostCleanups []verify.HostCleanup `json:"host_cleanups,omitempty"`
	// PID and StartTime are the CLI run that wrote this state while it is
	// in flight (see legFile); a kept host's state has neither.
	PID       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"`
	// Outcome is the verdict of a run that finished (its result.json
	// written) but left something for `down`: its teardown failed or was
	// not confirmed. Empty while the run is in flight, so a state with a
	// PID and no outcome is a run killed before its result.
	Outcome verify.Outcome `json:"outcome,omitempty"`
}

const upStateFile = "host.json"

// keyToGiveAgain names the secret input `down` must be given again for
// the leg of st, "" when the state holds all down needs. The state keeps
// no secret: an ssh leg whose key came as ssh-private-key (not as
// ssh-private-key-file, whose path it keeps) leaves down no key to log in
// with to undo its changes on the host — and the ssh provider takes no
// other key than the user's.
func (st *upState) keyToGiveAgain() string {
	if st.Provider != "ssh" || st.KeyFile != "" || st.Inputs["ssh-private-key-file"] != "" {
		return ""
	}
	return "ssh-private-key"
}

// downCommand is the command that tears down the leg of st from out, as
// the user can paste it, and, when it needs the key given again, a note
// saying what KEY in it is.
func downCommand(out string, st *upState) (cmd, note string) {
	// Absolute, so that the command works from wherever it is run (the
	// state path printed beside it is absolute too).
	if abs, err := filepath.Abs(out); err == nil {
		out = abs
	}
	cmd = "mvm-verify down --out " + shellWord(out)
	in := st.keyToGiveAgain()
	if in == "" {
		return cmd, ""
	}
	cmd += " --" + in + "-file KEY"
	note = fmt.Sprintf("KEY is a file holding the private key the run was given as %s: a secret, so %s does not keep it "+
		"(or give it in the environment as INPUT_%s, as the run had it)", in, hostDir(out), strings.ToUpper(in))
	return cmd, note
}

// refuseOverruled refuses --key given with a value other than the state's,
// as for provider: down tears down the leg the state in --out names, and
// ignoring the flag quietly would leave the user believing another leg was
// torn down.
func (a *app) refuseOverruled(run *config.Run, st *upState) error {
	if !slices.Contains(a.flagsGiven, "key") || run.Input("key") == st.Identity.Key {
		return nil
	}
	return &config.InputError{Input: "key", Value: run.Input("key"),
		Expected: fmt.Sprintf("nothing, or %s: down reads the key from the state in %s", st.Identity.Key, run.Out)}
}

// saveUp writes the state of a kept host: the client key (0600) so the
// user can log in, a known_hosts file pinning the host key, and host.json.
func (a *app) saveUp(run *config.Run, id providers.Identity, res *verify.Result, plan verify.Plan) error {
	dir, err := filepath.Abs(filepath.Join(run.Out, "host"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// run checked --out before the leg began; again, as what goes here
	// is a private key: only into a directory no other user can write.
	if err := checkOut(run.Out, a.outTrust()...); err != nil {
		return err
	}
	// A marker of an earlier up's down in a reused --out is not this leg's.
	if err := os.Remove(filepath.Join(run.Out, downReportedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	st := upState{Provider: run.Provider, Identity: id, Inputs: stateInputs(run, plan.Provider), Host: res.Host, HostCleanups: res.HostCleanups}
	if len(res.ClientKeyPEM) > 0 {
		st.KeyFile = filepath.Join(dir, "id_ed25519")
		// Each file is written new and renamed into place, never through
		// a file (or symlink) already at its name.
		if err := writeFileAtomic(st.KeyFile, res.ClientKeyPEM, 0o600); err != nil {
			return err
		}
	}
	if res.Host != nil && res.Host.HostKey != "" {
		st.Known = filepath.Join(dir, "known_hosts")
		hostPattern := res.Host.Address
		if res.Host.Port != 22 {
			hostPattern = fmt.Sprintf("[%s]:%d", res.Host.Address, res.Host.Port)
		}
		if err := writeFileAtomic(st.Known, []byte(hostPattern+" "+res.Host.HostKey+"\n"), 0o600); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, upStateFile), []byte(mustJSON(st)), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nThe host is up and kept. State: %s\n", dir)
	if res.Host != nil {
		cmd := fmt.Sprintf("ssh -p %d", res.Host.Port)
		if st.KeyFile != "" {
			cmd += " -i " + shellWord(st.KeyFile)
		}
		if st.Known != "" {
			// ssh splits this option's value at spaces (it takes a list of
			// files) unless the path is in double quotes.
			known := st.Known
			if strings.ContainsAny(known, " \t") {
				known = `"` + known + `"`
			}
			cmd += " -o " + shellWord("UserKnownHostsFile="+known) + " -o StrictHostKeyChecking=yes"
		}
		cmd += fmt.Sprintf(" %s@%s", res.Host.User, res.Host.Address)
		fmt.Fprintf(a.stdout, "Log in:    %s\n", cmd)
	}
	cmd, note := downCommand(run.Out, &st)
	fmt.Fprintf(a.stdout, "Tear down: %s\n", cmd)
	if note != "" {
		fmt.Fprintf(a.stdout, "           %s\n", note)
	}
	return nil
}

// down tears down what `up` kept, from its state in --out.
func (a *app) down(ctx context.Context, run *config.Run) int {
	dir := filepath.Join(run.Out, "host")
	// Only a state this user alone could have written: its host
	// cleanups run over SSH, and its paths are trusted.
	data, err := readStateFile(run.Out, a.outTrust()...)
	var inErr *config.InputError
	if errors.As(err, &inErr) {
		return a.badInput(err)
	}
	if err != nil {
		return a.badInput(&config.InputError{Input: "out", Value: run.Out, Expected: "the --out directory of a previous `mvm-verify up`, or of a run killed before its teardown (no " + filepath.Join(dir, upStateFile) + ")"})
	}
	var st upState
	if err := json.Unmarshal(data, &st); err != nil {
		return a.badInput(fmt.Errorf("read %s: %w", filepath.Join(dir, upStateFile), err))
	}
	if stillRunning(&st) {
		return a.badInput(&config.InputError{Input: "out", Value: run.Out,
			Expected: fmt.Sprintf("the state of a run that has ended (pid %d is still running it: stop it with Ctrl-C or SIGTERM, which tears it down)", st.PID)})
	}
	// The state says what the provider is; another would tear down nothing.
	if run.Provider != "" && run.Provider != st.Provider {
		return a.badInput(&config.InputError{Input: "provider", Value: run.Provider,
			Expected: fmt.Sprintf("nothing, or %s: down reads the provider from the state in %s", st.Provider, run.Out)})
	}
	run.Provider = st.Provider
	// So does the leg's key: a different one would be silently overruled.
	if err := a.refuseOverruled(run, &st); err != nil {
		return a.badInput(err)
	}
	a.warnNotApplying(run)
	// down removes the state only once the teardown is done: quit before,
	// it is there for the next down.
	a.env.signals.setLeft(func() string {
		cmd, note := downCommand(run.Out, &st)
		msg := fmt.Sprintf("mvm-verify: the leg's state is still in %s; to finish the teardown, run: %s\n", dir, cmd)
		if note != "" {
			msg += "mvm-verify: " + note + "\n"
		}
		return msg
	})
	defer a.env.signals.setLeft(nil)
	// The result the leg's run wrote, if it got that far: a run that
	// ended with its verdict keeps it, whatever down's teardown finds.
	saved := savedResult(run.Out, st.Identity)
	how := legKept
	switch {
	case saved != nil && saved.Final():
		// Also when the run was killed after writing its result but
		// before it could say so in its state.
		how = legFinished
		fmt.Fprintf(a.stdout, "==> tearing down again what run %s (ended %s) left: its teardown did not finish\n", st.Identity.Run(), saved.Outcome)
	case st.PID != 0:
		how = legKilled
		if st.Outcome != "" {
			// Finished, but what it wrote is gone (removed, or damaged):
			// without its row the leg's verdict cannot be told.
			fmt.Fprintf(a.stderr, "mvm-verify: run %s ended %s, but its result is not in %s: the leg is reported as ended without a result\n",
				st.Identity.Run(), st.Outcome, filepath.Join(run.Out, "result.json"))
		}
		fmt.Fprintf(a.stdout, "==> tearing down what run %s (pid %d, ended without its teardown) left\n", st.Identity.Run(), st.PID)
	}
	// The leg's own inputs fill what down was not given. Of the
	// provider's inputs, a value down has only as the input's default
	// (run.Inputs holds defaults) is not given either: the leg's ssh-port
	// must not turn back into 22, or its ssh-known-host line for
	// [host]:port would no longer be its host's.
	defaults := map[string]string{}
	if e, err := registry().Get(st.Provider); err == nil {
		for _, in := range config.Inputs() {
			if slices.Contains(e.Info.Inputs, in.Name) && in.Default != "" {
				defaults[in.Name] = in.Default
			}
		}
	}
	for k, v := range st.Inputs {
		if cur, given := run.Inputs[k]; !given || cur == defaults[k] {
			run.Inputs[k] = v
		}
	}
	// Without the key the run was given as a secret, the provider would
	// say only that it needs one: say it is the run's, given again.
	if in := st.keyToGiveAgain(); in != "" && run.Input(in) == "" && run.Input(in+"-file") == "" {
		cmd, _ := downCommand(run.Out, &st)
		return a.badInput(&config.InputError{Input: in + "-file",
			Expected: fmt.Sprintf("the private key the run was given as %s, which %s does not keep (a secret): %s, "+
				"with KEY a file holding it, or the key in the environment as INPUT_%s", in, hostDir(run.Out), cmd, strings.ToUpper(in))})
	}
	p, err := a.provider(run, st.Provider)
	if err != nil {
		return a.badInput(err)
	}
	ctx, cancel := context.WithTimeout(ctx, max(run.TeardownBudget, time.Minute))
	defer cancel()
	code := ExitOK
	teardown := verify.PhaseResult{Name: verify.PhaseTeardown, Status: matrix.Pass, Started: time.Now()}
	var problems []string
	if err := a.undoOnHost(ctx, p, &st); err != nil {
		if e, _ := registry().Get(st.Provider); e.Info.Creates {
			// The destroy below removes the host, and what was on it.
			fmt.Fprintf(a.stdout, "   on the host: %v (the destroy removes it)\n", err)
		} else {
			code = ExitFailed
			problems = append(problems, "changes left on the host: "+err.Error())
			a.annotate("error", "mvm-verify down", "changes left on the host: "+err.Error())
			fmt.Fprintf(a.stderr, "mvm-verify: changes left on the host: %v\n", err)
		}
	}
	again, _ := downCommand(run.Out, &st)
	again = "running down again (" + again + ") retries"
	if dcode, _, problem := a.destroy(ctx, p, st.Identity, true, again); dcode != ExitOK {
		code = dcode
		problems = append(problems, problem)
	}
	teardown.Duration = time.Since(teardown.Started)
	if code != ExitOK {
		teardown.Status = matrix.Fail
		teardown.Error = strings.Join(problems, "; ")
	}
	note := downNote(code, how)
	// --out says how the leg ended, as its commit status does: an up's
	// "host up" result would otherwise outlive the host.
	// Not saving it leaves down's exit status as is: that says whether
	// the teardown worked.
	res, err := a.writeDownResult(run, &st, saved, teardown, note, how)
	if err != nil {
		a.resultNotSaved(run.Out, err)
	}
	reported := a.reportDown(ctx, run, st.Identity, res, note, how)
	if code == ExitOK && reported {
		// The up step's post step runs at the job's end and would end the
		// leg again, over this more accurate note: tell it down did.
		if err := os.WriteFile(filepath.Join(run.Out, downReportedFile), []byte(st.Identity.Name()+"\n"), 0o600); err != nil {
			fmt.Fprintf(a.stderr, "mvm-verify: note that down reported the leg: %v\n", err)
		}
	}
	if code == ExitOK {
		if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(a.stderr, "mvm-verify: remove %s: %v\n", dir, err)
		}
	}
	return code
}

// downReportedFile, in --out, says `down` tore the host down and ended its
// leg on GitHub: the up step's post step then leaves the leg as down
// reported it (STATE_* of the up step cannot learn of a later step).
const downReportedFile = "down-reported"

// legEnd is how the leg down tears down had ended.
type legEnd int

const (
	// legKept is a host `up` kept: no verdict, and none will come.
	legKept legEnd = iota
	// legKilled is a run or up killed before its result.
	legKilled
	// legFinished is a run that ended with its verdict, but whose
	// teardown failed or was not confirmed: the verdict stands.
	legFinished
)

// downNote is the note down gives the leg it ended; code is the
// teardown's exit status. A finished leg's note joins its own notes.
func downNote(code int, how legEnd) string {
	switch {
	case how == legFinished && code != ExitOK:
		return "down failed to redo the teardown (see the job)"
	case how == legFinished:
		return "teardown redone by down"
	case how == legKilled && code != ExitOK:
		return "the run ended without a result; down failed to tear it down (see the job)"
	case how == legKilled:
		return "the run ended without a result; torn down by down"
	case code != ExitOK:
		return "host kept by up; the suite was not run; down failed to tear it down (see the job)"
	}
	return "host kept by up, torn down by down; the suite was not run"
}

// writeDownResult rewrites result.json and summary.md in --out with the
// leg's end, publishes it as run and up do (step outputs, job summary) and
// returns the result written: saved (the result up or the
// run wrote there, if it is this leg's), else one made from the state,
// with down's teardown as its teardown phase. A finished leg keeps its
// verdict; any other is ended with note. The step logs are left as they
// are: down ran no steps.
func (a *app) writeDownResult(run *config.Run, st *upState, saved *verify.Result, teardown verify.PhaseResult, note string, how legEnd) (*verify.Result, error) {
	res := saved
	if res == nil {
		res = &verify.Result{
			Provider: st.Provider, Identity: st.Identity, Lane: st.Inputs["lane"], Started: st.Identity.CreatedAt,
			Display: cmp.Or(run.Display, st.Inputs["display"], matrix.DisplayName(st.Identity.Key)),
		}
	}
	switch how {
	case legFinished:
		res.RedoTeardown(note, time.Now(), teardown)
	case legKilled:
		res.Abandon(note, time.Now(), teardown)
	default:
		res.EndKept(note, time.Now(), teardown)
	}
	summaryPath, resultPath, err := writeResultFiles(run.Out, res)
	// The step outputs are the result's, as after run and up: a workflow
	// reads the leg's end from status after down too.
	a.publishResult(res, summaryPath, resultPath)
	return res, err
}

// savedResult is the result.json in out if it is the leg id's, else nil
// (none, or an earlier leg's in a reused --out).
func savedResult(out string, id providers.Identity) *verify.Result {
	data, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		return nil
	}
	var res verify.Result
	if json.Unmarshal(data, &res) != nil || res.Identity.Name() != id.Name() {
		return nil
	}
	return &res
}

// reportDown settles the leg on GitHub (in Actions, with reporting on)
// once down has torn it down, and reports whether the status was posted.
// A finished leg's row is posted again as res has it: its verdict, with
// down's teardown. Any other leg ends without a verdict, as error, with
// note: up's pending status (the host is gone, the suite was not run
// there), or a killed run's.
func (a *app) reportDown(ctx context.Context, run *config.Run, id providers.Identity, res *verify.Result, note string, how legEnd) bool {
	if id.HeadSHA != "" {
		run.HeadSHA = id.HeadSHA // the commit up was run for
	}
	r := a.reporter(run)
	if r == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishReserve)
	defer cancel()
	row := matrix.Row{Key: id.Key, Provider: run.Display, Lane: run.Lane}
	switch how {
	case legFinished:
		final := res.Row()
		out := r.Finish(ctx, final)
		a.notice(out)
		if out.StatusPosted {
			fmt.Fprintf(a.stdout, "reported %s's final row again, with down's teardown (status %s)\n", id.Key, ghreport.StatusState(final))
		}
		return out.StatusPosted
	case legKilled:
		out := r.Abandon(ctx, row, note)
		a.notice(out)
		return out.StatusPosted
	}
	out := r.EndKept(ctx, row, note)
	a.notice(out)
	if out.StatusPosted {
		fmt.Fprintf(a.stdout, "reported %s as ended without a verdict: the host up kept is gone (status error)\n", id.Key)
	}
	return out.StatusPosted
}

// undoOnHostDial bounds reaching a kept host for its cleanups: a host that
// is gone must not hold up the provider's destroy.
const undoOnHostDial = 30 * time.Second

// undoOnHost runs a kept host's cleanups over SSH, with the saved client
// key (or, for a host we did not create, the key its provider is
// configured with) and the pinned host key.
func (a *app) undoOnHost(ctx context.Context, p providers.Provider, st *upState) error {
	if len(st.HostCleanups) == 0 {
		return nil
	}
	if st.Host == nil {
		return errors.New("no host in the saved state to undo the changes on")
	}
	var keyPEM []byte
	if st.KeyFile != "" {
		b, err := os.ReadFile(st.KeyFile)
		if err != nil {
			return fmt.Errorf("read the saved client key: %w", err)
		}
		keyPEM = b
	} else {
		// No run key was saved: the host takes the user's own key, which
		// a provider that creates nothing (ssh) returns from Create with
		// the host it was given; nothing is created.
		if e, err := registry().Get(st.Provider); err != nil || e.Info.Creates {
			return errors.New("no client key saved for the host")
		}
		h, err := p.Create(ctx, providers.Request{Identity: st.Identity, User: st.Host.User}, nil)
		if err != nil {
			return fmt.Errorf("the key to log in with: %w", err)
		}
		keyPEM = h.PrivateKeyPEM
	}
	signer, err := remote.ParsePrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("the key to log in with: %w", err)
	}
	target := remote.Target{
		Addr: st.Host.Address, Port: st.Host.Port, User: st.Host.User,
		Signer: signer, HostKey: st.Host.HostKey, Insecure: st.Host.HostKey == "",
	}
	fmt.Fprintf(a.stdout, "==> undo the changes on %s\n", target)
	if target.Insecure {
		a.warn("host key of " + target.Addr + " is not pinned (insecure-host-key): the connection can be intercepted")
	}
	dctx, cancel := context.WithTimeout(ctx, undoOnHostDial)
	defer cancel()
	c, err := remote.Dial(dctx, target, remote.DialOptions{Logger: a.log, InitialBackoff: a.pollInterval()})
	if err != nil {
		return fmt.Errorf("ssh %s: %w", target, err)
	}
	defer c.Close()
	if err := verify.UndoOnHost(ctx, c, st.HostCleanups); err != nil {
		return err
	}
	for i := len(st.HostCleanups) - 1; i >= 0; i-- {
		fmt.Fprintf(a.stdout, "   %s\n", st.HostCleanups[i].Name)
	}
	return nil
}
