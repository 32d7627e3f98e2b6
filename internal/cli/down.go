package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// `down`: tear down a host `up` kept (or a killed run left) and end its leg.

// downReported reports whether `down` already tore down this leg's kept
// host and ended the leg on GitHub. The marker silences the up step's post
// step, which would leave the leg's status pending for a host that is
// gone: it is believed only in an --out this user alone controls (see
// checkOut), as a regular file of this user's, which no other user can
// have planted or swapped.
func (a *app) downReported(run *config.Run, id providers.Identity) bool {
	trusted := a.outTrust()
	if checkOut(run.Out, trusted...) != nil {
		return false
	}
	path := filepath.Join(run.Out, downReportedFile)
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || ownedByUs(path, fi, trusted) != nil {
		return false
	}
	b, err := os.ReadFile(path)
	return err == nil && strings.TrimSpace(string(b)) == id.Name()
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
		// A provider refusing its inputs is bad input; a factory failing
		// for another reason (none of ours does yet) could not start.
		return a.notStarted(err)
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
	res, err := a.writeLegEnd(run, &st, saved, teardown, note, how)
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
		a.removeLegState(run.Out)
	}
	return code
}

// removeLegState removes a leg's state from out — host.json, the client
// key, known_hosts — once its teardown and leak check are clean: the key
// is a secret --out must not keep for a host that is gone, and a state
// left would have the next leg into out refused, told to tear down a host
// that no longer exists. down and the up step's post step both end so.
func (a *app) removeLegState(out string) {
	dir := hostDir(out)
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(a.stderr, "mvm-verify: remove %s: %v\n", dir, err)
	}
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

// writeLegEnd rewrites result.json and summary.md in --out with the
// leg's end, publishes it as run and up do (step outputs, job summary) and
// returns the result written: saved (the result up or the
// run wrote there, if it is this leg's), else one made from the state,
// with the teardown just done (down's, or the up step's post step's) as
// its teardown phase. A finished leg keeps its verdict; any other is
// ended with note. The step logs are left as they are: no steps ran.
func (a *app) writeLegEnd(run *config.Run, st *upState, saved *verify.Result, teardown verify.PhaseResult, note string, how legEnd) (*verify.Result, error) {
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
