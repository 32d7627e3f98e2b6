package verify

import (
	"fmt"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/libtest"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/providers"
)

// Outcome is the leg's overall verdict; it decides the exit status.
type Outcome string

const (
	Verified Outcome = "verified" // exit 0
	Failed   Outcome = "failed"   // exit 1: the host or the suite failed
	Errored  Outcome = "error"    // exit 1: we could not finish (provider, SSH, teardown)
	// Incomplete is a leg where nothing failed but a check was not run
	// (`running 0 tests`, env-gated skips): not a pass, so exit 1. The
	// no-KVM lane's n/a steps are not "not run".
	Incomplete Outcome = "incomplete"
	Cancelled  Outcome = "cancelled" // exit 1: a signal
	TimedOut   Outcome = "timed-out" // exit 1: the timeout-minutes deadline
	// Up is a host kept for the user (`up`): ready, the suite not run. It is
	// no verdict, so it never reads as verified; exit 0.
	Up Outcome = "up"
)

// Phase names, in the order they run.
const (
	PhasePreflight = "preflight"
	PhaseProvision = "provision"
	PhaseReady     = "ready"
	PhaseProbe     = "probe"
	PhaseSuite     = "suite"
	PhaseCollect   = "collect"
	PhaseTeardown  = "teardown"
)

// PhaseResult is one phase's verdict.
type PhaseResult struct {
	Name     string        `json:"name"`
	Status   matrix.Status `json:"status"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
	// Stopped is set on a failed phase that the run's end cut short: a
	// signal, the timeout-minutes limit (or, for the teardown, its
	// budget) had ended the context it ran in. Its failure is then no
	// verdict on the host, only that the run stopped there.
	Stopped bool `json:"stopped,omitempty"`
}

// StepResult is one suite step's verdict.
type StepResult struct {
	Name     string        `json:"name"`
	Column   matrix.Column `json:"column,omitempty"`
	Status   matrix.Status `json:"status"`
	Reason   string        `json:"reason,omitempty"`
	ExitCode int           `json:"exit_code"`
	Duration time.Duration `json:"duration_ns"`
	// Tests are the libtest counts of a step parsed as libtest.
	Tests *libtest.Summary `json:"tests,omitempty"`
	// Output is the step's combined output, secrets masked.
	Output string `json:"-"`
}

// HostInfo is what the summary may say about the host: no secrets.
type HostInfo struct {
	Address string  `json:"address"`
	Port    int     `json:"port"`
	User    string  `json:"user"`
	ID      string  `json:"id,omitempty"`
	Type    string  `json:"type,omitempty"`
	Region  string  `json:"region,omitempty"`
	Zone    string  `json:"zone,omitempty"`
	Price   float64 `json:"price_per_hour,omitempty"`
	HostKey string  `json:"host_key,omitempty"`
}

// Result is everything a leg found out; reports are rendered from it.
type Result struct {
	Provider string             `json:"provider"`
	Display  string             `json:"display"`
	Identity providers.Identity `json:"identity"`
	Outcome  Outcome            `json:"outcome"`
	Lane     string             `json:"lane"`
	Started  time.Time          `json:"started"`
	Duration time.Duration      `json:"duration_ns"`
	// FirstFailure is the first thing that went wrong, in one line.
	FirstFailure string `json:"first_failure,omitempty"`
	// Refusal is the provider's own message when preflight stopped for
	// credentials (an auth refusal: "Needs AWS credentials: set …"). It
	// is the leg's whole Notes cell, in the wording the hand-kept matrix
	// used for a leg that could not start.
	Refusal  string              `json:"refusal,omitempty"`
	Phases   []PhaseResult       `json:"phases"`
	Steps    []StepResult        `json:"steps"`
	Attempts []providers.Attempt `json:"attempts,omitempty"`
	// TeardownDeferred is set when the teardown ran out of time after
	// issuing its deletes (a signal): the post step must sweep and check
	// for leaks again, so the run is not marked torn down.
	TeardownDeferred bool                 `json:"teardown_deferred,omitempty"`
	Host             *HostInfo            `json:"host,omitempty"`
	Probe            *probe.Report        `json:"probe,omitempty"`
	Leaks            []providers.Resource `json:"leaks,omitempty"`
	Created          []providers.Resource `json:"created,omitempty"`
	// Collected holds log excerpts from the host, in a fixed order (masked).
	Collected []Log `json:"-"`
	// Notices are things the summary says about how the leg ran that are
	// neither failures nor cells (steps run without sudo).
	Notices []string `json:"notices,omitempty"`
	// SeccompFromProbe is set when no step of the suite feeds the Seccomp
	// probe column: the probe's own seccomp check is then the column's
	// verdict, so a host that enforces no seccomp filter fails the leg
	// rather than reading n/a.
	SeccompFromProbe bool `json:"seccomp_from_probe,omitempty"`
	// ConnectionLost, when set, says how the SSH connection was lost
	// during the suite, which stopped there: the leg is errored (the
	// infrastructure failed), unless a step had failed before.
	ConnectionLost string `json:"connection_lost,omitempty"`
	// RemoteTime is the total time spent inside remote commands.
	RemoteTime time.Duration `json:"remote_time_ns"`
	// CostUSD is the estimated cost of the host for the leg's duration.
	CostUSD float64 `json:"cost_usd,omitempty"`
	// Kept is true when the host was left running on purpose (`up`).
	Kept bool `json:"kept,omitempty"`
	// ClientKeyPEM is the run's client key, set only for a kept host so the
	// user can log in. Secret: never printed or encoded.
	ClientKeyPEM []byte `json:"-"`
	// HostCleanups, for a kept host, are the changes the cycle made on it
	// over SSH, for `down` to undo before the provider's destroy.
	HostCleanups []HostCleanup `json:"-"`
	// CouldNotStart is set when SSH never got into a host the provider did
	// not create (refused, unreachable, a wrong user or key, another host
	// key): nothing was created and nothing changed on the host, so the
	// leg could not start (exit 2), its first failure naming the input.
	CouldNotStart bool `json:"could_not_start,omitempty"`
	// Ended is set when the leg ended without a verdict after this result
	// was written: `down` tore down the host `up` kept, or what a killed
	// run left. The row is then the one its commit status gets.
	Ended *Ending `json:"ended,omitempty"`
	// Redone is set when the leg ended with its verdict but its teardown
	// failed or was not confirmed, and `down` tore down again what it
	// left: the verdict stays the leg's, the teardown phase is down's.
	Redone *Redo `json:"redone,omitempty"`
}

// Redo is a teardown done again after the leg had its verdict.
type Redo struct {
	// Note is added to the row's notes.
	Note string    `json:"note"`
	At   time.Time `json:"at"`
}

// Ending is how a leg without a verdict ended.
type Ending struct {
	// Note is the row's whole Notes cell.
	Note string `json:"note"`
	// Live is the live cycle's cell: not run for a kept host torn down
	// (the suite never ran there), fail for a run that never finished.
	Live matrix.Status `json:"live"`
	At   time.Time     `json:"at"`
}

// EndKept turns the result of an `up` into the leg's final one once its
// kept host is torn down: no verdict came, so the outcome is error, the
// live cycle not run and note the notes; phases are the teardown's.
func (r *Result) EndKept(note string, at time.Time, phases ...PhaseResult) {
	r.end(Ending{Note: note, Live: matrix.NotRun, At: at}, phases)
}

// Abandon ends a leg that never finished (killed before its final result)
// once what it left is torn down: the live cycle failed, note the notes.
func (r *Result) Abandon(note string, at time.Time, phases ...PhaseResult) {
	r.end(Ending{Note: note, Live: matrix.Fail, At: at}, phases)
}

func (r *Result) end(e Ending, phases []PhaseResult) {
	r.Outcome = Errored
	r.Kept = false
	r.Ended = &e
	for _, p := range phases {
		r.setPhase(p)
	}
}

// Final reports whether the result is a leg's verdict as its run wrote
// it: an outcome other than up, and not ended since by `down`.
func (r *Result) Final() bool {
	return r.Ended == nil && r.Outcome != "" && r.Outcome != Up
}

// RedoTeardown records teardown, done again by `down` after the leg ended
// with its verdict (Final) but left something behind: it replaces the
// leg's own teardown phase, and note joins the notes. The outcome, steps
// and cells stay the leg's, except that a teardown that failed again
// fails a leg that had passed, as a failed teardown does in the cycle.
func (r *Result) RedoTeardown(note string, at time.Time, teardown PhaseResult) {
	r.setPhase(teardown)
	r.Redone = &Redo{Note: note, At: at}
	if teardown.Status == matrix.Fail {
		r.fail("%s: %s", teardown.Name, teardown.Error)
		if r.Outcome == Verified || r.Outcome == Incomplete {
			r.Outcome = Failed
		}
		return
	}
	// down's leak check found nothing left: what the leg's teardown could
	// not confirm is confirmed now.
	r.TeardownDeferred = false
}

// setPhase replaces the phase of p's name, or adds p: a teardown done
// again (by a retried down) is the leg's teardown, not another one.
func (r *Result) setPhase(p PhaseResult) {
	if old := r.Phase(p.Name); old != nil {
		*old = p
		return
	}
	r.Phases = append(r.Phases, p)
}

// Phase returns the named phase's result, or nil if it never started.
func (r *Result) Phase(name string) *PhaseResult {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

func (r *Result) fail(format string, args ...any) {
	if r.FirstFailure == "" {
		r.FirstFailure = fmt.Sprintf(format, args...)
	}
}

// Row is the leg's line in the verification matrix.
func (r *Result) Row() matrix.Row {
	row := matrix.Row{
		Key:       r.Identity.Key,
		Provider:  r.Display,
		Lane:      r.Lane,
		HeadSHA:   r.Identity.HeadSHA,
		UpdatedAt: r.Started.Add(r.Duration),
	}
	if r.Redone != nil {
		row.UpdatedAt = r.Redone.At
	}
	if row.Key == "" {
		row.Key = r.Provider
	}
	if row.Provider == "" {
		row.Provider = r.Provider
	}
	if r.Ended != nil {
		return r.endedRow(row)
	}
	row.Set(matrix.Preflight, r.preflightCell(), "")
	live, liveText := r.liveCell()
	row.Set(matrix.LiveCycle, live, liveText)
	seccomp, seccompText := r.seccompCell()
	row.Set(matrix.SeccompProbe, seccomp, seccompText)
	row.Notes = r.notes()
	return row
}

// endedRow is the row of a leg that ended without a verdict, as its
// commit status has it: what the leg had settled stays, its live cycle is
// the ending's (a failed one stays failed), the rest unknown.
func (r *Result) endedRow(row matrix.Row) matrix.Row {
	row.UpdatedAt = r.Ended.At
	pre := matrix.Unknown
	if r.Phase(PhasePreflight) != nil {
		pre = r.preflightCell()
	}
	row.Set(matrix.Preflight, pre, "")
	row.Set(matrix.LiveCycle, r.Ended.Live, "")
	seccomp, seccompText := matrix.Unknown, ""
	switch {
	case r.Ended.Live == matrix.NotRun:
		// A kept host's suite never ran: no step fed the column.
		seccomp = matrix.NotRun
	case r.feeds(matrix.SeccompProbe):
		seccomp = r.columnCell(matrix.SeccompProbe)
	default:
		if _, ok := r.probeSeccomp(); ok {
			// The probe, which stands for the column, had its finding.
			seccomp, seccompText = r.seccompCell()
		}
	}
	row.Set(matrix.SeccompProbe, seccomp, seccompText)
	row.Notes = r.Ended.Note
	return row
}

// feeds reports whether a step the leg ran fed column c.
func (r *Result) feeds(c matrix.Column) bool {
	for _, s := range r.Steps {
		if s.Column == c {
			return true
		}
	}
	return false
}

// preflightCell covers inputs, credentials, the type, and the host probe:
// the preflight phase's verdict, failed too by a probe that found the host
// short of what the type promised (the KVM check) or could not run there.
// A probe that reached no verdict leaves the preflight's: one not run (the
// leg stopped before it, or no probe binary) as one the run's end cut
// short (a cancel, timeout-minutes), which checked nothing on the host —
// the live cycle's ❌ cancelled / timed out says the leg stopped. A
// preflight cut short reached no verdict either: not run ("—"), as a
// column whose checks the leg stopped short of.
func (r *Result) preflightCell() matrix.Status {
	pre := r.Phase(PhasePreflight)
	if pre == nil {
		return matrix.NotRun
	}
	if pre.Status != matrix.Pass {
		if pre.Stopped {
			return matrix.NotRun
		}
		return pre.Status
	}
	if p := r.Phase(PhaseProbe); p != nil && p.Status == matrix.Fail && !p.Stopped {
		return matrix.Fail
	}
	// Steps a suite puts in this column fold in as in any other: the
	// live cycle leaves them to their own cell.
	status := matrix.Pass
	for _, s := range r.Steps {
		if s.Column != matrix.Preflight {
			continue
		}
		switch s.Status {
		case matrix.Fail:
			return matrix.Fail
		case matrix.NotRun:
			status = matrix.NotRun
		}
	}
	return status
}

// liveCell is the Live cycle column: provision → cloud-init → KVM check →
// mvm smoke → mvmd smoke → teardown, all green (MVM-SUITE). It folds the
// phases, the steps feeding the column and the column-less ones (build),
// never a step of another column: a failed Seccomp probe step (or the
// probe's seccomp check standing for that column) is that column's ❌ and
// fails the leg, but the live cycle it is no part of stays as its own parts
// read — ✅ on the KVM lane, n/a on the no-KVM lane, as the seed's Hetzner
// row. The cell reads "verified DATE" only for a verified leg: a failed
// leg whose live parts all passed reads a bare ✅, an `incomplete` one (a
// check of another column not run) "— (incomplete)", and a live step not
// run "— (NAME not run)". Phases the plan skips (the probe without a
// binary) do not count.
func (r *Result) liveCell() (matrix.Status, string) {
	switch r.Outcome {
	case Cancelled:
		return matrix.Fail, "cancelled"
	case TimedOut:
		return matrix.Fail, "timed out"
	}
	if pre := r.Phase(PhasePreflight); pre == nil || pre.Status != matrix.Pass {
		return matrix.NotRun, ""
	}
	if r.Outcome == Up {
		// The cycle stopped at a ready host: still to come, not verified.
		return matrix.Pending, "host up"
	}
	if r.liveFailed() {
		return matrix.Fail, ""
	}
	switch r.Outcome {
	case Verified, Incomplete:
	case Failed:
		if !r.anyFailed() {
			// Failed, yet nothing the result holds failed (down redid
			// the failed teardown): no part of the cycle can be called
			// green, n/a on the no-KVM lane included.
			return matrix.Fail, ""
		}
		// Another column's check failed the leg; the live cycle's own
		// parts are read below.
	default:
		return matrix.Fail, ""
	}
	if r.Lane == "no-kvm" {
		// n/a is for the checks the lane has no KVM for; a live step
		// that could run there and was not (a gated skip) leaves the leg
		// incomplete, and its row must say so.
		for _, s := range r.Steps {
			if (s.Column == matrix.LiveCycle || s.Column == "") && s.Status == matrix.NotRun {
				return matrix.NotRun, "(" + s.Name + " not run)"
			}
		}
		return matrix.NA, "(no KVM)"
	}
	for _, s := range r.Steps {
		if s.Column != matrix.LiveCycle || s.Status == matrix.Pass {
			continue
		}
		if s.Status == matrix.NotRun {
			return matrix.NotRun, "(" + s.Name + " not run)"
		}
		return matrix.Fail, "(" + s.Name + " " + string(s.Status) + ")"
	}
	for _, s := range r.Steps {
		// A column-less step not run (an env-gated build) leaves the
		// live cycle short of all green too.
		if s.Column == "" && s.Status == matrix.NotRun {
			return matrix.NotRun, "(" + s.Name + " not run)"
		}
	}
	if r.Outcome == Incomplete && r.notRun() == nil {
		// Incomplete, yet no step the result holds was left unrun: no
		// part of the cycle can be called green.
		return matrix.NotRun, "(incomplete)"
	}
	if r.Outcome != Verified {
		// Every live part passed; the leg failed, or was left
		// incomplete, in another column.
		return matrix.Pass, ""
	}
	return matrix.Pass, "verified " + r.Started.UTC().Format("2006-01-02")
}

// liveFailed reports whether a part of the live cycle failed: a phase (the
// probe's KVM check, the teardown and its leak check), or a failed step
// feeding the Live cycle column or none. A failed step of another column
// fails that column, not this one, and so does the suite phase failing for
// such steps alone; a suite that lost its SSH connection did fail here.
func (r *Result) liveFailed() bool {
	otherFailed := false
	for _, s := range r.Steps {
		if s.Status != matrix.Fail {
			continue
		}
		if s.Column != "" && s.Column != matrix.LiveCycle {
			otherFailed = true
			continue
		}
		return true
	}
	for _, p := range r.Phases {
		if p.Status != matrix.Fail {
			continue
		}
		if p.Name == PhaseSuite && otherFailed && r.ConnectionLost == "" {
			// Every step ran (a failed step does not stop the next):
			// the phase failed for the steps above, nothing else.
			continue
		}
		return true
	}
	return false
}

// notRun is the first step that was not run outside the no-KVM lane's n/a
// (`running 0 tests`, env-gated skips), or nil.
func (r *Result) notRun() *StepResult {
	for i := range r.Steps {
		if r.Steps[i].Status == matrix.NotRun {
			return &r.Steps[i]
		}
	}
	return nil
}

// lostOnly reports whether the suite stopped on a lost SSH connection
// with no step failed before it, nor the probe's seccomp check standing
// for the Seccomp probe column: no verdict on the host, so the leg is
// errored rather than failed.
func (r *Result) lostOnly() bool {
	if r.ConnectionLost == "" || r.probeSeccompFailure() != "" {
		return false
	}
	for _, s := range r.Steps {
		if s.Status == matrix.Fail {
			return false
		}
	}
	return true
}

// anyFailed reports whether a phase or a step failed, or the probe's
// seccomp check where it stands for the Seccomp probe column.
func (r *Result) anyFailed() bool {
	if r.probeSeccompFailure() != "" {
		return true
	}
	for _, p := range r.Phases {
		if p.Status == matrix.Fail {
			return true
		}
	}
	for _, s := range r.Steps {
		if s.Status == matrix.Fail {
			return true
		}
	}
	return false
}

// seccompCell is the Seccomp probe column: the steps feeding it, or, in a
// suite with none, the probe's seccomp check where the probe reported —
// ✅ (probe) for a filter enforced, ❌ (probe) for none, which fails the
// leg too (anyFailed), so the row, the outcome and the exit status agree.
// Without a probe report the column folds as columnCell says.
func (r *Result) seccompCell() (matrix.Status, string) {
	enforced, ok := r.probeSeccomp()
	switch {
	case !ok:
		return r.columnCell(matrix.SeccompProbe), ""
	case enforced:
		return matrix.Pass, "(probe)"
	}
	return matrix.Fail, "(probe)"
}

// probeSeccomp is the probe's seccomp finding where it stands for the
// Seccomp probe column: the suite has no step for the column and the probe
// reported. A kept host (`up`) is no verdict, and its suite is still to
// come: ok is false there, as it is otherwise.
func (r *Result) probeSeccomp() (enforced, ok bool) {
	if !r.SeccompFromProbe || r.Probe == nil || r.Kept || r.Outcome == Up {
		return false, false
	}
	return r.Probe.Seccomp.Enforced, true
}

// probeSeccompFailure is the leg's failure when the probe stands for the
// Seccomp probe column and found no seccomp filter enforced; "" otherwise.
func (r *Result) probeSeccompFailure() string {
	if enforced, ok := r.probeSeccomp(); !ok || enforced {
		return ""
	}
	why := "probe: seccomp filter not enforced"
	// The detail is the host's text: one line of it.
	if d := strings.Join(strings.Fields(r.Probe.Seccomp.Detail), " "); d != "" {
		why += " (" + d + ")"
	}
	return why
}

// columnCell folds the steps feeding one column: any fail fails it, all pass
// passes it, otherwise not run if any step was not run, else n/a; a
// column no step feeds is n/a in a verified leg, not run in any other.
func (r *Result) columnCell(c matrix.Column) matrix.Status {
	status := matrix.Unknown
	seen := false
	for _, s := range r.Steps {
		if s.Column != c {
			continue
		}
		switch {
		case s.Status == matrix.Fail:
			return matrix.Fail
		case !seen:
			status, seen = s.Status, true
		case status == matrix.Pass && s.Status != matrix.Pass,
			status == matrix.NA && s.Status == matrix.NotRun:
			// A check not run outweighs one not applicable: the leg is
			// incomplete, and the column must not read n/a.
			status = s.Status
		}
	}
	if !seen {
		// No step of the suite feeds the column (and, for the Seccomp
		// probe column, no probe report stands for it). "?" is for a leg
		// that never reported, so a leg that ended says what it knows: a
		// verified leg had no such check to run (n/a; "—" would be a
		// check not run, which makes a leg incomplete and its commit
		// status a failure), any other leg stopped short of its checks
		// or left one out ("—").
		switch r.Outcome {
		case "":
			return matrix.Unknown
		case Verified:
			return matrix.NA
		}
		return matrix.NotRun
	}
	return status
}

func (r *Result) notes() string {
	if r.Refusal != "" && len(r.Leaks) == 0 {
		// Nothing was created: the provider's refusal is the whole note.
		return r.Refusal
	}
	var parts []string
	if r.CostUSD > 0 {
		parts = append(parts, fmt.Sprintf("$%.2f / %s", r.CostUSD, roundDuration(r.Duration)))
	} else {
		parts = append(parts, roundDuration(r.Duration))
	}
	if r.Host != nil && r.Host.Type != "" {
		parts = append(parts, r.Host.Type)
	}
	if r.Lane == "no-kvm" {
		parts = append(parts, "no-KVM lane")
	}
	if r.Outcome == Up {
		parts = append(parts, "host is up; suite not run")
	}
	if r.Redone != nil {
		// Before the failure it follows: the failure can be long, and
		// a comment cuts notes from their end.
		parts = append(parts, r.Redone.Note)
	}
	if r.FirstFailure != "" {
		parts = append(parts, r.FirstFailure)
	}
	if len(r.Leaks) > 0 {
		var ids []string
		for _, l := range r.Leaks {
			ids = append(ids, l.ID)
		}
		parts = append(parts, "LEAKED: "+strings.Join(ids, ", "))
	}
	return strings.Join(parts, ", ")
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
	default:
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	}
}

// Log is one log excerpt fetched from the host by the collect phase.
type Log struct {
	Name string
	Text string
}
