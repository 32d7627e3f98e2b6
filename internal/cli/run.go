package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/summary"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// fromFlags runs a command configured from the command line.
func (a *app) fromFlags(ctx context.Context, cmd string, args []string) int {
	a.cmd.leg, a.cmd.mode = cmd != "report", cmd
	src, err := a.flagSource(cmd, args)
	a.cmd.src = src
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return a.badInput(err)
	}
	a.subcommand = true
	return a.dispatch(ctx, cmd, src)
}

// actionMain is the Docker action's main step: the command is the `mode`
// input, everything else comes from INPUT_*.
func (a *app) actionMain(ctx context.Context) int {
	src := actionSource(a.files.gha)
	mode, _ := src("mode")
	if mode == "" {
		mode = "run"
	}
	a.cmd = cmdState{leg: mode != "report", src: src, mode: mode}
	return a.dispatch(ctx, mode, src)
}

func (a *app) dispatch(ctx context.Context, cmd string, src config.Source) int {
	// Before anything starts: every command waits by it.
	if _, err := a.pollIntervalOverride(); err != nil {
		return a.badInput(err)
	}
	reg := registry()
	ev, _ := ghreport.LoadEvent(a.env.Getenv("GITHUB_EVENT_PATH"), a.env.Getenv) // a bad event is reported where it is used
	run, err := config.LoadWith(src, config.Options{Providers: reg.Names(), Check: reg.Check, Mode: cmd, Getenv: a.env.Getenv,
		HeadSHA: headSHA(a.env.Getenv), PullRequest: ev.PR})
	if err != nil {
		return a.badInput(err)
	}
	a.maskSecrets(run)
	// A refusal from here on gives the leg's own row.
	a.cmd.run = run
	if cmd != "down" { // down knows its provider once it has read its state
		a.warnNotApplying(run)
	}
	switch cmd {
	case "run", "up":
		return a.run(ctx, run, reg, cmd == "up")
	case "down":
		return a.down(ctx, run)
	case "report":
		return a.report(ctx, run)
	}
	return a.badInput(&config.InputError{Input: "mode", Value: cmd, Expected: "one of run, up, down, report"})
}

// maskSecrets tells the runner to hide every secret value from the log.
func (a *app) maskSecrets(run *config.Run) {
	if !a.inGHA {
		return
	}
	for _, s := range run.Secrets() {
		for _, line := range strings.Split(s, "\n") {
			if strings.TrimSpace(line) != "" {
				a.files.gha.AddMask(line)
			}
		}
	}
}

// run is `run` and `up`: the whole cycle, or everything but teardown. Its
// steps go in this order: refuse before anything is recorded, record the
// leg, plan and run the cycle, then record, report and say its result.
func (a *app) run(ctx context.Context, run *config.Run, reg *providers.Registry, keep bool) int {
	lg, code := a.prepareLeg(run, reg, keep)
	if lg == nil {
		return code
	}
	if err := a.startLeg(lg); err != nil {
		return a.notStarted(err)
	}
	if lg.st.leg != nil {
		// Once run returns, a forced quit has no leg of this run to
		// explain.
		defer a.env.signals.setLeft(nil)
	}
	lg.plan = a.planLeg(lg)
	res := a.cycle(ctx, lg)
	return a.finish(ctx, lg, res)
}

// leg is one run or up, shared by the steps of run: its configuration and
// provider, then the identity and state it records, the plan its cycle
// runs and where the cycle is reported.
type leg struct {
	run  *config.Run
	keep bool // up: the host is kept for down, not torn down
	p    providers.Provider
	info providers.Info
	id   providers.Identity
	st   *state
	plan verify.Plan
	gh   *ghreport.Reporter // nil when the leg is not reported to GitHub
	// waitStart returns once the pending status posted at the start has
	// been answered and its notice printed.
	waitStart func()
}

// prepareLeg makes the leg's provider and settles its lane, refusing the
// leg before anything is recorded or created. A nil leg was refused, with
// the exit status code.
func (a *app) prepareLeg(run *config.Run, reg *providers.Registry, keep bool) (lg *leg, code int) {
	if _, err := a.cancelBudgetOverride(); err != nil {
		return nil, a.badInput(err)
	}
	entry, err := reg.Get(run.Provider)
	if err != nil {
		return nil, a.badInput(&config.InputError{Input: "provider", Value: run.Provider, Expected: "one of " + strings.Join(reg.Names(), ", ")})
	}
	p, err := entry.New(a.providerOptions(run))
	if err != nil {
		// A refused input is bad input; anything else the factory met
		// (a file it could not read for another reason than the input)
		// is no input to fix.
		return nil, a.notStarted(err)
	}
	resolveAutoLane(run, p, entry.Info)
	// --out is this user's alone, or the run does not start: it will
	// hold the kept host's key and the state down trusts (see checkOut).
	if err := mkOut(run.Out, a.outTrust()...); err != nil {
		return nil, a.badInput(err)
	}
	if a.subcommand || keep {
		if err := checkOutFree(run.Out); err != nil {
			return nil, a.badInput(err)
		}
	}
	return &leg{run: run, keep: keep, p: p, info: entry.Info}, ExitOK
}

// resolveAutoLane decides lane auto from what provider p offers, before
// anything runs; the host probe only confirms it. The default row key
// follows the lane. A refusal after this reads the row key and lane from
// run (refusedRow).
func resolveAutoLane(run *config.Run, p providers.Provider, info providers.Info) {
	if run.Lane != config.LaneAuto {
		return
	}
	run.Lane = config.ResolveLane(run.Lane, providers.OfferedLanes(p, info))
	if run.Lane == config.LaneNoKVM && run.Key == providers.Label(run.Provider) {
		run.Key += "-" + config.LaneNoKVM
	}
}

// startLeg records the leg before anything is created: its identity goes
// to state, so the post step can find its resources by tag even if main is
// killed mid-create, and at the command line to a leg file in --out, for
// down. Its error is the leg file's: an --out refused is bad input, this
// process's start time unreadable is not.
func (a *app) startLeg(lg *leg) error {
	run := lg.run
	lg.id = a.identity(run)
	st := &state{files: a.files}
	lg.st = st
	st.save("provider", run.Provider)
	st.save("identity", mustJSON(lg.id))
	st.save("name", lg.id.Name())
	st.save("out", run.Out)
	if !a.subcommand {
		return nil
	}
	lf, err := newLegFile(run, lg.id, lg.p, a.env.procStart)
	if err != nil {
		return err
	}
	st.leg = lf
	// From now on a forced quit leaves state for down: say what.
	a.env.signals.setLeft(func() string { return st.leftNote(run.Out) })
	return nil
}

// planLeg is the cycle's plan for the leg: the configuration's (plan),
// plus what only run and up ask of the cycle: where SSH may come from,
// which inputs errors about the host name, the cost budget, and the state
// the cycle records as it goes.
func (a *app) planLeg(lg *leg) verify.Plan {
	run, st := lg.run, lg.st
	plan := a.plan(run, lg.p, lg.info, lg.id)
	plan.SSHSourceCIDR = run.SSHSourceCIDR
	if lg.info.Billed {
		// The runner's address is learned after the provider's preflight:
		// a run that cannot start for want of credentials should say that,
		// not that the address lookup failed.
		plan.DiscoverSourceCIDR = a.discoverSourceCIDR(run)
	}
	if run.ProbeBinary != "" {
		plan.ProbeBinaryInput = "probe-binary" // named in errors about the binary
	}
	if run.Provider == "ssh" {
		// SSH not getting into the host is then the input to fix: the
		// leg could not start.
		plan.HostInputs = sshHostInputs(run)
		// The host is known before anything runs on it: a probe binary it
		// could not run is refused at preflight, before ready changes it.
		plan.HostAddress = strings.TrimSpace(run.Input("ssh-host"))
	}
	plan.MaxCostUSD = run.MaxCostUSD
	plan.KeepHost = lg.keep
	plan.Journal = st
	plan.HostJournal = st
	// The verdict goes to state before the teardown, for the post step to
	// report if main is killed during it; the final save in recordResult
	// replaces it.
	plan.OnVerdict = func(res *verify.Result) {
		st.save("outcome", string(res.Outcome))
		st.save("row", mustJSON(res.Row()))
	}
	return plan
}

// discoverSourceCIDR learns the runner's public address, the source SSH
// to a billed provider's host is opened to.
func (a *app) discoverSourceCIDR(run *config.Run) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		cidr, err := providers.SourceCIDR(dctx, run.SSHSourceCIDR, run.AllowSSHFromAnywhere,
			providers.HTTPEgress(nil, a.egressURL()))
		if err != nil {
			// Without the runner's address there is no safe source to
			// open SSH to; the user can name it.
			return "", &config.InputError{Input: "ssh-source-cidr", Value: run.SSHSourceCIDR,
				Expected: "the runner's public address as a CIDR like 203.0.113.7/32", Err: err}
		}
		return cidr, nil
	}
}

// sshHostInputs names the inputs of the ssh provider's host, for errors
// about a host the user brought to name the input to fix.
func sshHostInputs(run *config.Run) verify.HostInputs {
	in := verify.HostInputs{Host: "ssh-host", Port: "ssh-port", User: "ssh-user",
		Key: "ssh-private-key", KnownHost: "ssh-known-host"}
	if run.Inputs["ssh-private-key"] == "" && run.Inputs["ssh-private-key-file"] != "" {
		in.Key = "ssh-private-key-file"
	}
	return in
}

// cycle runs the leg's plan, reported to GitHub beside it: pending at the
// start, and once when the host is ready.
func (a *app) cycle(ctx context.Context, lg *leg) *verify.Result {
	lg.gh = a.reporter(lg.run)
	lg.waitStart = a.reportStart(ctx, lg.gh, matrix.Row{Key: lg.id.Key, Provider: lg.plan.Display, Lane: lg.run.Lane, HeadSHA: lg.id.HeadSHA})
	// The cycle's clock starts now, with what timeout-minutes has left.
	lg.plan.Timeout = cycleTimeout(lg.run, lg.gh != nil, time.Since(a.start))
	stopProgress := a.reportProgress(ctx, lg.gh, &lg.plan)
	res := verify.Run(ctx, lg.plan)
	stopProgress()
	return res
}

// finish ends the leg after its cycle: it settles the leg's state, records
// and reports the result, keeps up's host, says the verdict and returns the
// exit status.
func (a *app) finish(ctx context.Context, lg *leg, res *verify.Result) int {
	// At the command line no post step finishes a teardown this run
	// could not: one cut short by a signal, or not confirmed in time, is
	// said last, and the run does not exit 0 (in the action's main the
	// post step sweeps again, and settles the leg).
	unfinished := a.subcommand && res.TeardownDeferred && !(lg.keep && res.Kept)
	legLeft := a.settleTeardown(lg, res, unfinished)
	filesSaved := a.recordResult(ctx, lg, res, legLeft)
	if lg.keep && res.Kept {
		if err := a.saveUp(lg.run, lg.id, res, lg.plan); err != nil {
			fmt.Fprintf(a.stderr, "mvm-verify: save host state: %v\n", err)
			return ExitFailed
		}
	}
	return a.verdict(lg, res, unfinished, filesSaved)
}

// settleTeardown records in state how far the teardown got and, at the
// command line, settles the leg file: removed when nothing is left behind,
// else kept for down, which the user is told to run (a teardown left
// unfinished says so last, in verdict). It says whether the leg file is
// kept for down.
func (a *app) settleTeardown(lg *leg, res *verify.Result, unfinished bool) (legLeft bool) {
	st := lg.st
	// Main got past its teardown: a summary the post step writes for a
	// main killed before its own no longer says it was killed in it.
	st.save(teardownEndedKey, "true")
	td := res.Phase(verify.PhaseTeardown)
	tornDown := td != nil && len(res.Leaks) == 0 && td.Status == matrix.Pass && !res.TeardownDeferred
	if tornDown {
		st.save("torn-down", "true")
	}
	if st.leg == nil || (lg.keep && res.Kept) {
		return false
	}
	if tornDown && len(res.HostCleanups) == 0 {
		a.env.signals.setLeft(func() string { return "mvm-verify: the teardown had finished: nothing is left behind\n" })
		if err := st.leg.remove(); err != nil {
			fmt.Fprintf(a.stderr, "mvm-verify: remove the leg's state: %v\n", err)
		}
		return false
	}
	if !unfinished { // said last, in verdict
		st.leg.mu.Lock()
		cmd, note := downCommand(lg.run.Out, &st.leg.st)
		st.leg.mu.Unlock()
		fmt.Fprintf(a.stderr, "mvm-verify: the teardown may have left something; `%s` tries again\n", cmd)
		if note != "" {
			fmt.Fprintf(a.stderr, "mvm-verify: %s\n", note)
		}
	}
	return true
}

// recordResult saves the leg's final outcome and row to state, writes its
// result files and outputs, and posts its final row to GitHub, in that
// order: each is there for the post step if main is killed before the
// next. legLeft says the leg file is kept for down. It reports whether
// result.json, summary.md and the step logs were all saved.
func (a *app) recordResult(ctx context.Context, lg *leg, res *verify.Result, legLeft bool) (filesSaved bool) {
	st := lg.st
	st.save("outcome", string(res.Outcome))
	// The final row goes to state before it goes to GitHub: a main step
	// killed while reporting it (the runner's SIGKILL follows a cancel
	// within seconds) leaves the post step the row to publish again.
	finalRow := res.Row()
	st.save("row", mustJSON(finalRow))

	saved, logsSaved := a.writeResult(lg.run, res)
	// The job summary has the leg's row now: the post step need not
	// write it for a main killed before this.
	st.save(summaryWrittenKey, "true")
	if saved && legLeft {
		// After the result, which down keeps: until then the state
		// reads as a run killed before its result, as it would be.
		if err := st.leg.finished(res.Outcome); err != nil {
			fmt.Fprintf(a.stderr, "mvm-verify: record the run's outcome for down: %v\n", err)
		}
	}
	// A teardown handed to the post step is not settled: the post step
	// posts the row again then, with what its own teardown found.
	// Otherwise the leg is settled once its final status is posted (a
	// comment refused on its own would be refused to the post step too),
	// or when GitHub refuses the status itself (Off): posting again would
	// not help.
	if out, ok := a.reportFinish(ctx, lg.gh, lg.run, finalRow); ok && (out.StatusPosted || out.Off) && !res.TeardownDeferred {
		st.save("reported", "true")
	}
	lg.waitStart() // over by now: Finish waited for it
	return saved && logsSaved
}

// verdict says the leg's outcome and first failure on stdout and returns
// its exit status; a teardown left unfinished (see finish) or, at the
// command line, result files not saved keep a passing run from exiting 0.
func (a *app) verdict(lg *leg, res *verify.Result, unfinished, filesSaved bool) int {
	verdict := string(res.Outcome)
	if unfinished {
		verdict += ", but " + teardownShortfall(res)
	}
	fmt.Fprintf(a.stdout, "%s: %s\n", res.Display, verdict)
	if res.FirstFailure != "" && res.Outcome != verify.Verified {
		// An incomplete leg failed nothing: its first check not run is a
		// problem, not a failure (result.json keeps the one field name).
		label := "first failure"
		if res.Outcome == verify.Incomplete {
			label = "first problem"
		}
		fmt.Fprintf(a.stdout, "%s: %s\n", label, res.FirstFailure)
	}
	code := exitStatus(res)
	if unfinished {
		if code == ExitOK {
			code = ExitFailed
		}
		a.unfinishedTeardown(lg.run, lg.st, code)
		return code
	}
	if !filesSaved && a.subcommand && !lg.keep && code == ExitOK {
		// At the command line result.json, summary.md and the step logs
		// are the record a script or an artifact upload takes: a run
		// that could not write them is no clean pass. (In the action the
		// step's outputs and job summary carry the verdict, and the post
		// step needs no file; up's status says the host is up, which it
		// is.)
		fmt.Fprintf(a.stderr, "mvm-verify: exit status %d although the leg is %s: its result could not be saved in %s (see above)\n",
			ExitFailed, res.Outcome, lg.run.Out)
		code = ExitFailed
	}
	return code
}

// teardownShortfall says how a deferred teardown was left: cut short by a
// signal, or its deletes not all confirmed in time.
func teardownShortfall(res *verify.Result) string {
	if td := res.Phase(verify.PhaseTeardown); td != nil && td.Stopped {
		return "the teardown was cut short"
	}
	return "the teardown was not confirmed"
}

// unfinishedTeardown is the last word of a command-line run whose
// teardown is not finished: the exit status, that the teardown is not
// finished, and the command that finishes it.
func (a *app) unfinishedTeardown(run *config.Run, st *state, code int) {
	cmd := "mvm-verify down --out " + remote.Quote(run.Out)
	note := ""
	if st.leg != nil {
		st.leg.mu.Lock()
		cmd, note = downCommand(run.Out, &st.leg.st)
		st.leg.mu.Unlock()
	}
	if note != "" {
		fmt.Fprintf(a.stderr, "mvm-verify: %s\n", note)
	}
	fmt.Fprintf(a.stderr, "mvm-verify: exit status %d: the teardown is not finished, and resources may be left; to finish it, run: %s\n", code, cmd)
}

// exitStatus is the process's exit status for a finished cycle: 0 for a
// verified leg (or up's kept host), 2 when the leg could not start (a
// refused preflight, or SSH never getting into a host the user brought),
// else 1 — a cancel or the time limit included, even when it cut the
// preflight short: that is no refusal of the inputs.
func exitStatus(res *verify.Result) int {
	pre := res.Phase(verify.PhasePreflight)
	switch {
	case res.Outcome == verify.Verified:
		return ExitOK
	case res.Outcome == verify.Up:
		// up did what was asked: the host is ready and kept. Its row
		// stays ⏳ (pending), never a verdict.
		return ExitOK
	case pre != nil && pre.Status == matrix.Fail && !pre.Stopped:
		return ExitBadInput
	case res.CouldNotStart && res.Outcome == verify.Errored:
		// SSH never got into the host the user brought: nothing was
		// created or changed, and the first failure names the input.
		return ExitBadInput
	}
	return ExitFailed
}

// plan turns the configuration into the cycle's plan for provider p,
// which info describes.
func (a *app) plan(run *config.Run, p providers.Provider, info providers.Info, id providers.Identity) verify.Plan {
	suite := run.Suite
	var steps []verify.Step
	for _, s := range suite.Steps {
		steps = append(steps, verify.Step{
			Name: s.Name, Run: s.Run, Timeout: s.Timeout, NeedsKVM: s.NeedsKVM(),
			Column: s.Column, Parse: s.Parse, Env: s.Env,
		})
	}
	var uploads []verify.Upload
	for _, u := range suite.Uploads {
		uploads = append(uploads, verify.Upload{Src: u.Src, Dst: u.Dst, Mode: u.Mode})
	}
	probeBin := run.ProbeBinary
	if probeBin == "" {
		probeBin = a.env.Executable
	}
	for _, w := range run.Warnings {
		a.warn(w)
	}
	display := run.Display
	if display == "" {
		display = matrix.DisplayName(run.Key)
	}
	return verify.Plan{
		Provider:       p,
		Info:           info,
		Display:        display,
		Identity:       id,
		Candidates:     run.Candidates,
		CandidateInput: run.CandidateInput,
		Lane:           run.Lane,
		DiskGB:         run.DiskGB,
		Image:          run.Image,
		TTL:            run.TTL,
		User:           suite.User,
		Packages:       suite.Packages,
		Bootstrap:      suite.Bootstrap,
		Uploads:        uploads,
		Steps:          steps,
		ProbeBinary:    probeBin,
		Timeout:        time.Duration(run.TimeoutMinutes) * time.Minute,
		TimeoutMinutes: time.Duration(run.TimeoutMinutes) * time.Minute,
		TeardownBudget: run.TeardownBudget,
		ReadyTimeout:   run.ReadyTimeout,
		ReadyPoll:      a.pollInterval(),
		DialBackoff:    a.pollInterval(),
		Heartbeat:      a.pollInterval(),
		Out:            a.stdout,
		Actions:        a.inGHA,
		PostStep:       a.postStepFollows(),
		CancelBudget:   a.cancelBudget(info),
		Secrets:        run.Secrets(),
		Logger:         a.log,
		Fallback:       providers.FallbackOptions{Logger: a.progressLog},

		// The ssh provider pins from ssh-known-host; the cycle refuses any
		// host without a key unless this was asked for.
		InsecureHostKey: run.InsecureHostKey,
	}
}

// cancelBudgetEnv sets, at a terminal, how long a signalled run may take to
// tear down (tests shorten it). In Actions it is not read: the runner's
// grace sets the budget there.
const cancelBudgetEnv = "MVM_VERIFY_CANCEL_BUDGET"

// terminalCancelBudget is how long a signalled run of a cloud provider may
// take to tear down at a terminal: terminating an instance, waiting for it
// and deleting its firewall group take longer than the cycle's 7 s, and no
// runner follows up with SIGKILL there (a second Ctrl-C quits at once), nor
// a post step to finish what was cut short. In Actions the cycle's default
// (7 s) applies: see cancelBudget.
const terminalCancelBudget = time.Minute

// cancelBudget is how long a signalled run of the provider info describes
// may take to tear down. In Actions it is the cycle's 7 s for every step,
// the action's main and a CLI command in a run: step alike: the runner
// follows a cancel's SIGINT with SIGTERM and SIGKILL within about 10 s
// whatever the step, so a longer budget would only be cut by the kill,
// before the run could say what is left. What the 7 s do not finish, the
// action's post step sweeps again; after a CLI command, the run's last
// words name the down command that does (unfinishedTeardown). A provider
// that creates nothing in a cloud (not Billed: local stops its sshd and
// undoes its changes here, ssh undoes them on the host) gets the cycle's
// 7 s at a terminal too, as the cycle promises after SIGINT/SIGTERM; only
// a cloud's teardown needs the minute.
func (a *app) cancelBudget(info providers.Info) time.Duration {
	if a.inGHA {
		return verify.DefaultCancelBudget
	}
	if d, err := a.cancelBudgetOverride(); err == nil && d > 0 {
		return d
	}
	if info.Billed {
		return terminalCancelBudget
	}
	return verify.DefaultCancelBudget
}

// postStepFollows says whether the action's post step comes after this
// process and sweeps again by tag what its teardown could not confirm: only
// after the Docker action's main step (the binary run with no subcommand
// in Actions). A CLI command (a.subcommand), also in a workflow's run:
// step inside Actions, has no post step: what it leaves, down tears down.
func (a *app) postStepFollows() bool {
	return a.inGHA && !a.subcommand
}

// cancelBudgetOverride is MVM_VERIFY_CANCEL_BUDGET at a terminal: 0 when
// unset (or in Actions, where it is not read), else a positive duration. A
// value that is none is an error naming it, for run and up to refuse before
// anything starts rather than tear down on a budget the user did not ask for.
func (a *app) cancelBudgetOverride() (time.Duration, error) {
	v := a.env.Getenv(cancelBudgetEnv)
	if a.inGHA || v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("environment variable %s: got %q, expected a positive duration like 30s", cancelBudgetEnv, v)
	}
	return d, nil
}

func (a *app) providerOptions(run *config.Run) providers.Options {
	opts := providers.Options{
		Input:          run.Input,
		Getenv:         a.env.Getenv,
		Logger:         a.progressLog,
		PollInterval:   a.pollInterval(),
		Candidates:     run.Candidates,
		CandidateInput: run.CandidateInput,
	}
	if a.inGHA {
		// Credentials a provider mints (OIDC, STS) are secrets too.
		opts.Mask = a.files.gha.AddMask
	}
	return opts
}

// pollIntervalEnv is the test hook for every production wait (provider
// polls, readiness checks, SSH dial backoff, the heartbeat of a silent
// step, and GitHub's settle waits when the API is on loopback, as only a
// test's fake is): tests of the whole binary set it so they do not wait
// seconds per poll.
const pollIntervalEnv = "MVM_VERIFY_POLL_INTERVAL"

// pollInterval is MVM_VERIFY_POLL_INTERVAL, or 0 (the production
// intervals) when it is unset. Commands refuse a value that is no positive
// duration before they start (checkPollInterval), so one is never quietly
// replaced by the production waits here.
func (a *app) pollInterval() time.Duration {
	d, _ := a.pollIntervalOverride()
	return d
}

// pollIntervalOverride is MVM_VERIFY_POLL_INTERVAL: 0 when unset, else a
// positive duration; a value that is none is an error naming it, as for
// MVM_VERIFY_CANCEL_BUDGET: a test that mistyped it would otherwise wait
// the production intervals, or a user who set it get waits other than
// asked for.
func (a *app) pollIntervalOverride() (time.Duration, error) {
	v := a.env.Getenv(pollIntervalEnv)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("environment variable %s: got %q, expected a positive duration like 100ms", pollIntervalEnv, v)
	}
	return d, nil
}

// egressURL is where the runner's public address is learned. Tests of the
// whole binary point MVM_VERIFY_EGRESS_URL at a loopback server; nothing
// else should set it.
func (a *app) egressURL() string {
	return cmp.Or(a.env.Getenv("MVM_VERIFY_EGRESS_URL"), providers.DefaultEgressURL)
}

// identity names this leg from the runner's environment plus a random leg
// id; outside Actions a random run id keeps concurrent CLI runs apart too.
func (a *app) identity(run *config.Run) providers.Identity {
	get := a.env.Getenv
	now := time.Now().UTC()
	id := providers.Identity{
		Repo:       get("GITHUB_REPOSITORY"),
		RunID:      get("GITHUB_RUN_ID"),
		RunAttempt: get("GITHUB_RUN_ATTEMPT"),
		Job:        get("GITHUB_JOB"),
		Key:        run.Key,
		HeadSHA:    headSHA(get),
		CreatedAt:  now,
		ExpiresAt:  now.Add(run.TTL),
	}
	// The leg id keeps legs that share run, job and key (every leg of a
	// matrix job has the same GITHUB_JOB) off each other's resources.
	var leg [6]byte
	_, _ = rand.Read(leg[:])
	id.Leg = hex.EncodeToString(leg[:])
	if id.RunID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		id.RunID = fmt.Sprintf("cli-%d-%s", now.Unix(), hex.EncodeToString(b[:]))
	}
	if id.Repo == "" {
		id.Repo = "local"
	}
	if id.Job == "" {
		id.Job = "cli"
	}
	return id
}

// headSHA is the commit under test: the PR's head from the event payload
// (GITHUB_SHA is a merge commit on pull_request), else GITHUB_SHA.
func headSHA(get func(string) string) string {
	if ev, err := ghreport.LoadEvent(get("GITHUB_EVENT_PATH"), get); err == nil {
		return ev.HeadSHA
	}
	return get("GITHUB_SHA")
}

// writeResult writes result.json, summary.md and the step logs into
// --out, then publishes the result: step outputs, job summary. A file not
// written is said as an error (resultNotSaved); the result is published
// all the same. It reports whether result.json and summary.md were saved,
// and whether the step logs were too.
func (a *app) writeResult(run *config.Run, res *verify.Result) (saved, logsSaved bool) {
	summaryPath, resultPath, err := writeResultFiles(run.Out, res)
	lerr := writeStepLogs(run.Out, res)
	if lerr != nil {
		err = errors.Join(err, lerr)
	}
	a.publishResult(res, summaryPath, resultPath)
	if err != nil {
		a.resultNotSaved(run.Out, err)
	}
	return summaryPath != "" && resultPath != "", lerr == nil
}

// publishResult sets the step outputs of a leg's result — status (its
// outcome), row, summary-path and result-path — adds its summary to the job
// summary, and outside Actions prints its row. run, up and down all end
// with it, so a workflow reads the same outputs after each. The paths are
// empty when the files could not be written: the outputs then leave them
// unset, while status and row, which need no file, are set all the same.
func (a *app) publishResult(res *verify.Result, summaryPath, resultPath string) {
	row := res.Row()
	a.files.setOutput("status", string(res.Outcome))
	a.files.setOutput("row", mustJSON(row))
	if summaryPath != "" {
		a.files.setOutput("summary-path", summaryPath)
	}
	if resultPath != "" {
		a.files.setOutput("result-path", resultPath)
	}
	a.files.addSummary(summary.Markdown(res))
	if !a.inGHA {
		fmt.Fprintf(a.stdout, "\n%s\n", terminalText(matrix.Table([]matrix.Row{row})))
		if summaryPath != "" {
			fmt.Fprintf(a.stdout, "summary: %s\n", summaryPath)
		}
		if resultPath != "" {
			fmt.Fprintf(a.stdout, "result:  %s\n", resultPath)
		}
	}
}

// writeResultFiles writes result.json and summary.md into out, each whole
// or not at all, and returns the paths of those written ("" for one not
// written). One that could not be written is removed, so that no earlier
// run's copy stays beside this run's other file: a later down would read
// an earlier result as this leg's, a user an earlier summary. err says
// which could not be written, and why.
func writeResultFiles(out string, res *verify.Result) (summaryPath, resultPath string, err error) {
	var errs []error
	save := func(name string, data []byte, err error) string {
		path := filepath.Join(out, name)
		if err == nil {
			err = writeFileAtomic(path, data, 0o644)
		}
		if err == nil {
			return path
		}
		errs = append(errs, err)
		if err := removeStale(path); err != nil {
			errs = append(errs, err)
		}
		return ""
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		err = fmt.Errorf("encode result: %w", err)
	}
	resultPath = save("result.json", append(data, '\n'), err)
	summaryPath = save("summary.md", []byte(summary.Markdown(res)), nil)
	return summaryPath, resultPath, errors.Join(errs...)
}

// writeStepLogs keeps each step's full output as a file for artifacts,
// replacing an earlier run's logs in the same --out.
func writeStepLogs(out string, res *verify.Result) error {
	dir := filepath.Join(out, "logs")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove an earlier run's logs: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create logs dir: %w", err)
	}
	for i, s := range res.Steps {
		if s.Output == "" {
			continue
		}
		name := fmt.Sprintf("%02d-%s.log", i+1, providers.Label(s.Name))
		if err := writeFileAtomic(filepath.Join(dir, name), []byte(s.Output), 0o644); err != nil {
			return fmt.Errorf("write step log: %w", err)
		}
	}
	for _, l := range res.Collected {
		if err := writeFileAtomic(filepath.Join(dir, providers.Label(l.Name)+".log"), []byte(l.Text), 0o644); err != nil {
			return fmt.Errorf("write collected log: %w", err)
		}
	}
	return nil
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain types are encoded
	}
	return string(data)
}
