package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// A leg refused before anything was created is refused for one of these:
// an input to fix, or this machine or program failing before the leg could
// start (no input would help, and saying "bad input" would send the user
// looking for one). Both exit 2: README's "bad input or could not start".
const (
	refusedInput    = "bad input"
	refusedNotStart = "could not start"
)

// notStarted ends a leg whose preparation failed before anything was
// created: as bad input when err holds an *InputError, else as a leg that
// could not start.
func (a *app) notStarted(err error) int {
	var in *config.InputError
	if errors.As(err, &in) {
		return a.badInput(err)
	}
	return a.refuse(refusedNotStart, err)
}

// refuse prints why the leg was refused (why, refusedInput or
// refusedNotStart) and returns exit status 2. In Actions the step's
// outputs, summary and, for a leg, its row and report say so too.
func (a *app) refuse(why string, err error) int {
	msg := a.inputRedactor()(err.Error())
	fmt.Fprintf(a.stderr, "mvm-verify: %s: %s\n", why, msg)
	if a.inGHA {
		a.annotate("error", "mvm-verify: "+why, msg)
		// The step's outputs and summary say so too: a workflow reading
		// status sees error, not an empty string, and one reading a leg's
		// row a row, as a preflight refusal's.
		a.files.setOutput("status", "error")
		var row matrix.Row
		keyed := false
		if a.cmd.leg {
			row, keyed = a.refusedRow(why, err)
			a.files.setOutput("row", mustJSON(row))
		}
		fence := "```"
		for strings.Contains(msg, fence) {
			fence += "`"
		}
		a.files.addSummary(fmt.Sprintf("### mvm-verify: %s\n\nNothing was started.\n\n%s\n%s\n%s\n", why, fence, msg, fence))
		// Last: the refusal is said and recorded above even if GitHub
		// is slow to take it.
		if a.cmd.leg {
			a.reportBadInput(row, keyed)
		}
	}
	return ExitBadInput
}

// badInputNoteMax bounds the note of a bad input's row: a suite file's
// error can be long, and the row's cell is a table cell.
const badInputNoteMax = 300

// refusedRow is the row output of a leg refused at its inputs, shaped as
// a preflight refusal's row is (Preflight ❌, the rest not run, the
// refusal as the whole note), so a workflow reading the row output of any
// leg (fromJSON(steps.x.outputs.row)) finds a row and not an empty string.
// The configuration that would settle the leg's key and name was refused,
// so they come from the inputs as given, where they have the form of one
// ("unknown" otherwise), or from the configuration where it was loaded
// before the refusal (a.cmd.run); the note is the error, which names the
// input, with every secret input's value as given replaced by "***". keyed
// says some input named the row: its key is not the "unknown" fallback.
//
// why (refusedInput or refusedNotStart) leads the note: a leg that could
// not start gets the same row, its note saying so.
func (a *app) refusedRow(why string, err error) (row matrix.Row, keyed bool) {
	src := a.inputSource()
	get := func(name string) string {
		v, _ := src(name)
		return strings.TrimSpace(v)
	}
	redact := a.inputRedactor()

	// A raw input not of the form config checks for a provider name or a
	// row key is not put in the row, where it could be anything pasted
	// into the wrong input.
	provider := get("provider")
	if !providers.ValidName(provider) || redact(provider) != provider {
		provider = "unknown"
	}
	lane := get("lane")
	if !slices.Contains([]string{config.LaneKVM, config.LaneNoKVM}, lane) {
		lane = ""
	}
	key := get("key")
	keyed = true
	if !matrix.ValidKey(key) || redact(key) != key {
		key = providers.Label(provider)
		if lane == config.LaneNoKVM {
			key += "-" + config.LaneNoKVM
		}
		keyed = provider != "unknown"
	}
	if run := a.cmd.run; run != nil && run.Key != "" {
		// Loaded, and the lane resolved where it was: the leg's own row.
		key, keyed = run.Key, true
		lane = run.Lane
		if lane == config.LaneAuto {
			lane = ""
		}
	}
	display := get("display")
	if display == "" || strings.ContainsAny(display, "\r\n") || redact(display) != display {
		display = matrix.DisplayName(key)
	}
	note := matrix.Truncate(why+": "+oneLine(redact(err.Error())), badInputNoteMax)

	now := a.clock().UTC()
	res := &verify.Result{
		Provider: provider,
		Display:  matrix.Truncate(display, 64),
		Identity: providers.Identity{Key: key, HeadSHA: headSHA(a.env.Getenv)},
		Outcome:  verify.Errored,
		Lane:     lane,
		Started:  now,
		Phases: []verify.PhaseResult{{Name: verify.PhasePreflight, Status: matrix.Fail, Started: now,
			Error: note}},
		FirstFailure: verify.PhasePreflight + ": " + note,
		Refusal:      note,
	}
	return res.Row(), keyed
}

// reportBadInput posts the row of a leg refused at its inputs to GitHub as
// the leg's final report (reportFinish's): its commit status
// mvm-verify/<key> on the head commit, failure as for any refused preflight,
// described as the row ("❌ Preflight · — Live cycle · … · bad input: …"),
// and the row in the sticky comment. Without it a misconfigured leg would
// have no status on the pull request and no row in the matrix, while a leg
// refused a step later, at its provider's preflight, has both.
//
// Only run and up in Actions report: down's row belongs to the leg that
// kept the host, report has no row, and an unknown mode may be neither. The
// inputs that say whether and where to report must have been accepted (a
// report to the wrong repository, commit or server is worse than none), and
// some input must have named the row (not the "unknown" fallback). With no
// token or comment: false nothing is posted, as for any leg. Only GitHub is
// called, within finishReserve, and even after a signal, as a final row is;
// what it answers is a notice at most, and the exit status stays 2.
func (a *app) reportBadInput(row matrix.Row, keyed bool) {
	if !a.inGHA || !a.cmd.leg || (a.cmd.mode != config.ModeRun && a.cmd.mode != config.ModeUp) || a.cmd.src == nil || !keyed {
		return
	}
	ev, _ := ghreport.LoadEvent(a.env.Getenv("GITHUB_EVENT_PATH"), a.env.Getenv) // reporter says if it is unreadable
	run, err := config.LoadGitHub(a.cmd.src, config.Options{Getenv: a.env.Getenv, HeadSHA: headSHA(a.env.Getenv), PullRequest: ev.PR})
	if err != nil {
		// The annotation names them already.
		a.log.Info("the refusal is not reported to GitHub: the inputs saying where to report were refused too")
		return
	}
	if run.GitHubToken == "" {
		return
	}
	r := a.reporter(run)
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), finishReserve)
	defer cancel()
	a.notice(r.Finish(ctx, row))
}

// inputSource is where the inputs were read from: the flags and INPUT_*,
// or INPUT_* alone when the flags did not parse.
func (a *app) inputSource() config.Source {
	if a.cmd.src == nil {
		return actionSource(a.files.gha)
	}
	return a.cmd.src
}

// inputRedactor returns a function replacing every secret input's value as
// given, and each line of one, with "***": a bad input's error is printed,
// annotated and put in the job summary before the secrets are masked, and
// an error built outside config (an --out holding a pasted token) quotes
// its value as given.
func (a *app) inputRedactor() func(string) string {
	src := a.inputSource()
	var secrets []string
	for _, in := range config.Inputs() {
		if !in.Secret {
			continue
		}
		v, _ := src(in.Name)
		if v = strings.TrimSpace(v); len(v) >= 8 {
			secrets = append(secrets, v)
		}
		for _, line := range strings.Split(v, "\n") {
			// As the loader's check for a secret pasted elsewhere: a
			// shorter line matches unrelated text by chance.
			if line = strings.TrimSpace(line); len(line) >= 8 {
				secrets = append(secrets, line)
			}
		}
	}
	// Longest first: a whole secret before the lines it holds.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return func(s string) string {
		for _, v := range secrets {
			s = strings.ReplaceAll(s, v, "***")
		}
		return s
	}
}

// oneLine puts a message of several errors (one per line, as errors.Join
// writes them) on one line for a table cell: "; " between errors, single
// spaces within each.
func oneLine(msg string) string {
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
