package verify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/cloudinit"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/providers"
)

// Defaults for the parts of a Plan left zero.
const (
	DefaultTimeout        = 90 * time.Minute
	DefaultTeardownBudget = 5 * time.Minute
	DefaultCancelBudget   = 7 * time.Second
	DefaultReadyTimeout   = 30 * time.Minute
	// A create that has not returned in this long is stuck: even bare
	// metal is handed over in less.
	DefaultProvisionTimeout = 30 * time.Minute
	DefaultPreflightTimeout = 5 * time.Minute
	DefaultUploadTimeout    = 10 * time.Minute
	DefaultReadyPoll        = 5 * time.Second
	// DefaultUnreachableLimit: an existing host refusing connections (or
	// whose name does not resolve) this long without a break is not
	// restarting sshd; it is the wrong port or host.
	DefaultUnreachableLimit = time.Minute
	DefaultStepTimeout      = 60 * time.Minute
	// hostCleanupBudget bounds each host-side cleanup after a signal: they
	// come after the provider's destroy and must not eat the cancel budget.
	hostCleanupBudget = time.Second
	// leakCheckMargin ends the leak check that much before the teardown's
	// deadline, so running out reads as deferred, not as a failed phase.
	leakCheckMargin = 200 * time.Millisecond
)

// cycle is one run of a Plan: the state the phases share.
type cycle struct {
	plan     *Plan
	res      *Result
	cleanups cleanups
	out      *remote.Masker
	keys     *remote.Keys
	host     *providers.Host
	client   *remote.Client
	userData []byte
	probeBin string // where the probe binary was uploaded on the host
	// hostCleanups are the host-side cleanups as data, handed to `up`
	// for `down` when the host is kept.
	hostCleanups []HostCleanup
	// hostPending are the host-side cleanups not yet done, for the
	// plan's HostJournal; hostSeq numbers them.
	hostPending []pendingHostCleanup
	hostSeq     int
	// legToken marks the suite's processes on the host (legMarkerVar).
	legToken string
	// rootOnHost is true when the cycle can act as root on the host: the
	// login user is root, or it created the suite's user through sudo.
	rootOnHost bool
	// readyWaiting says what the ready phase is waiting for, for its
	// error when ready-timeout runs out.
	readyWaiting string
	// sleep, when set, stands in for waits.Sleep in the ready phase's
	// waits (wait): tests record them instead of sleeping.
	sleep func(ctx context.Context, d time.Duration) error
	// cancelled is set when ctx was cancelled (a signal): the teardown then
	// runs in the cancel budget, the provider's destroy first.
	cancelled bool
	// late is set when the signal came during the teardown (after the
	// cycle had its verdict): the teardown is cut to the cancel budget.
	late atomic.Bool
	// lateSignal is closed when late is set, for the unwind to stop the
	// host-side cleanups that would hold up the destroy.
	lateSignal chan struct{}
	// tornDown is set (under mu) once the teardown phase's work has
	// returned: a signal after it has nothing left to cut.
	tornDown bool

	mu sync.Mutex // guards res against the journal and progress callbacks
}

// Run runs the whole leg and returns its Result. It never returns early
// without running the cleanups: a cancelled ctx (a signal) stops the running
// phase, then the cleanups run within the plan's cancel budget, counted
// from the signal and covering the whole teardown. A signal during the
// teardown cuts what is left of it to the cancel budget as well; the leg's
// verdict, reached before, stands (and was handed to Plan.OnVerdict before
// the teardown began).
func Run(ctx context.Context, plan Plan) *Result {
	fillDefaults(&plan)
	plan.Lane = resolveLane(plan.Lane, providers.OfferedLanes(plan.Provider, plan.Info))
	c := &cycle{
		plan: &plan,
		res: &Result{
			Provider: plan.Provider.Name(),
			Display:  plan.Display,
			Identity: plan.Identity,
			Lane:     plan.Lane,
			Started:  plan.now(),
			// A suite without a seccomp step leaves the column to the
			// probe's seccomp check.
			SeccompFromProbe: !slices.ContainsFunc(plan.Steps, func(s Step) bool { return s.Column == matrix.SeccompProbe }),
		},
		out:        remote.NewMasker(plan.out(), plan.Secrets),
		lateSignal: make(chan struct{}),
	}
	c.cleanups.mask = func(s string) string { return remote.MaskString(s, c.secrets()) }

	// The cancel budget counts from the signal, not from when the running
	// phase gave up: the runner's SIGKILL does not wait for us.
	signalled := make(chan time.Time, 1)
	stopWatch := context.AfterFunc(ctx, func() { signalled <- time.Now() })
	defer stopWatch()

	// The deadline's cause names timeout-minutes, so a phase it stops says
	// which limit ended it rather than a bare "timed out".
	work, cancelWork := context.WithTimeoutCause(ctx, plan.Timeout-plan.TeardownBudget,
		&deadlineError{timeout: max(plan.TimeoutMinutes, plan.Timeout), teardown: plan.TeardownBudget,
			reserved: max(plan.TimeoutMinutes-plan.Timeout, 0)})
	c.runPhases(work)
	var deadline *deadlineError
	deadlineHit := errors.As(context.Cause(work), &deadline) && ctx.Err() == nil
	cancelWork()

	teardownBy := time.Now().Add(plan.TeardownBudget)
	if ctx.Err() != nil {
		c.cancelled = true
		at := time.Now()
		select {
		case at = <-signalled:
		default: // the watcher has not run yet: the signal was just now
		}
		teardownBy = at.Add(plan.CancelBudget)
		fmt.Fprintf(c.out, "!! cancelled: tearing down within %s of the signal\n", plan.CancelBudget)
	}
	if plan.KeepHost && !c.cancelled && c.res.FirstFailure == "" {
		c.res.Kept = true
		c.cleanups.stack = nil              // `up` hands the host to the user
		c.res.HostCleanups = c.hostCleanups // and `down` undoes them
		if c.keys != nil && (c.host == nil || len(c.host.PrivateKeyPEM) == 0) {
			pem, err := c.keys.ClientPrivatePEM()
			if err != nil {
				c.res.fail("export client key: %v", err)
			}
			c.res.ClientKeyPEM = pem
		}
	} else {
		c.reportVerdict(deadline, deadlineHit)
		tctx, cancelTeardown := withCutDeadline(ctx, teardownBy)
		defer cancelTeardown()
		stop := func() bool { return true }
		late := make(chan struct{})
		if !c.cancelled {
			// A signal during the teardown cuts it to the cancel budget
			// too: the runner's SIGKILL does not wait for a teardown
			// budget of minutes.
			stop = context.AfterFunc(ctx, func() {
				defer close(late)
				c.signalDuringTeardown(tctx, time.Now())
			})
		}
		c.phase(tctx, PhaseTeardown, func(ctx context.Context) error {
			defer func() {
				c.mu.Lock()
				c.tornDown = true
				c.mu.Unlock()
			}()
			return c.teardown(ctx)
		})
		if !stop() {
			// The watcher has started: the result is not final, nor the
			// output flushed, until it is done (a signal after the
			// teardown changes nothing, and it sees that).
			<-late
		}
	}

	c.res.Duration = plan.now().Sub(c.res.Started)
	if c.host != nil && c.host.PricePerHour > 0 {
		c.res.CostUSD = c.host.PricePerHour * c.res.Duration.Hours()
	}
	c.decide(deadline, deadlineHit)
	c.progress()
	c.out.Flush()
	return c.res
}

// decide sets the leg's outcome from what the result holds. A signal
// decides it only when it came before the teardown: one during the
// teardown cuts the teardown short, not the verdict the suite reached.
func (c *cycle) decide(deadline *deadlineError, deadlineHit bool) {
	switch {
	case c.cancelled:
		c.res.Outcome = Cancelled
		c.res.fail("cancelled")
	case deadlineHit:
		c.res.Outcome = TimedOut
		c.res.fail("%s", deadline.Error())
	case c.res.anyFailed():
		c.res.Outcome = Failed
		if why := c.res.probeSeccompFailure(); why != "" {
			// The probe phase passes a host without seccomp (its own
			// verdict is the KVM check): no phase or step records this
			// failure, so it is the first one unless another came before.
			c.res.fail("%s", why)
		}
		if c.res.Phase(PhaseSuite) == nil || c.res.lostOnly() {
			c.res.Outcome = Errored
		}
	case c.res.Kept && c.res.FirstFailure == "":
		c.res.Outcome = Up
	case c.res.FirstFailure != "":
		c.res.Outcome = Errored // a failure outside any phase (the kept host's key)
	case c.res.notRun() != nil:
		// running 0 tests or env-gated skips: not a pass, so not verified.
		s := c.res.notRun()
		c.res.Outcome = Incomplete
		c.res.fail("%s: %s", s.Name, cmp.Or(s.Reason, "not run"))
	default:
		c.res.Outcome = Verified
	}
}

// reportVerdict hands the plan's OnVerdict the leg's result as it stands
// before the teardown, decided as Run's end would decide it: the CLI saves
// it, so a process killed during the teardown still leaves the leg's
// verdict for the post step. The result is then put back as it was: the
// teardown may still fail the leg, and its failure is the first one then.
func (c *cycle) reportVerdict(deadline *deadlineError, deadlineHit bool) {
	if c.plan.OnVerdict == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first, duration := c.res.FirstFailure, c.res.Duration
	c.res.Duration = c.plan.now().Sub(c.res.Started)
	c.decide(deadline, deadlineHit)
	c.protect("the verdict hook", func() { c.plan.OnVerdict(c.res) })
	c.res.Outcome, c.res.FirstFailure, c.res.Duration = "", first, duration
}

// signalDuringTeardown cuts the teardown, already running when the signal
// came at at, to end within the cancel budget of it.
// A signal once the teardown's work has returned changes nothing.
func (c *cycle) signalDuringTeardown(tctx *cutContext, at time.Time) {
	c.mu.Lock()
	if c.tornDown {
		c.mu.Unlock()
		return
	}
	c.late.Store(true)
	close(c.lateSignal)
	c.res.Notices = append(c.res.Notices, fmt.Sprintf("a signal came during the teardown, which then had %s to finish", c.plan.CancelBudget))
	c.mu.Unlock()
	tctx.cut(at.Add(c.plan.CancelBudget))
	fmt.Fprintf(c.out, "!! cancelled during the teardown: ending it within %s of the signal; the leg's verdict stands\n", c.plan.CancelBudget)
}

// signalled says whether a signal has come: before the teardown (cancelled)
// or during it.
func (c *cycle) signalled() bool {
	return c.cancelled || c.late.Load()
}

// protect runs f, turning a panic in it into an error naming what: a bug
// in one part of the cycle (a phase, a cleanup, a hook) must not skip the
// cleanups and the result. The stack goes to the log, not the summary.
func (c *cycle) protect(what string, f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg := remote.MaskString(fmt.Sprint(r), c.secrets())
			c.plan.log().Error("internal error", "in", what, "panic", msg,
				"stack", remote.MaskString(string(debug.Stack()), c.secrets()))
			err = fmt.Errorf("internal error in %s: %s", what, msg)
		}
	}()
	f()
	return nil
}

// resolveLane decides auto before anything runs, from what the provider
// offers: no-kvm when it offers only that, else kvm. The host probe only
// confirms the lane; it never turns a host without KVM into a no-KVM pass.
// (config.ResolveLane is the same rule; verify does not import config.)
func resolveLane(lane string, offered []string) string {
	if lane != "auto" {
		return lane
	}
	if len(offered) > 0 && !slices.Contains(offered, "kvm") && slices.Contains(offered, "no-kvm") {
		return "no-kvm"
	}
	return "kvm"
}

func fillDefaults(p *Plan) {
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.TeardownBudget <= 0 {
		p.TeardownBudget = DefaultTeardownBudget
	}
	if p.TeardownBudget >= p.Timeout {
		p.TeardownBudget = p.Timeout / 4
	}
	if p.CancelBudget <= 0 {
		p.CancelBudget = DefaultCancelBudget
	}
	if p.ReadyTimeout <= 0 {
		p.ReadyTimeout = DefaultReadyTimeout
	}
	if p.PreflightTimeout <= 0 {
		p.PreflightTimeout = DefaultPreflightTimeout
	}
	if p.ProvisionTimeout <= 0 {
		p.ProvisionTimeout = DefaultProvisionTimeout
	}
	if p.UploadTimeout <= 0 {
		p.UploadTimeout = DefaultUploadTimeout
	}
	if p.UnreachableLimit <= 0 {
		p.UnreachableLimit = DefaultUnreachableLimit
	}
	if p.ReadyPoll <= 0 {
		p.ReadyPoll = DefaultReadyPoll
	}
	if p.Heartbeat <= 0 {
		p.Heartbeat = DefaultHeartbeat
	}
	if p.Lane == "" {
		p.Lane = "auto"
	}
	if len(p.Candidates) == 0 {
		p.Candidates = []providers.Candidate{{}}
	}
}

// runPhases runs the phases in order until one fails or ctx ends.
func (c *cycle) runPhases(ctx context.Context) {
	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{PhasePreflight, c.preflight},
		{PhaseProvision, c.provision},
		{PhaseReady, c.ready},
		{PhaseProbe, c.probe},
		{PhaseSuite, c.suite},
		{PhaseCollect, c.collect},
	}
	for _, ph := range phases {
		if ph.name == PhaseProbe && c.plan.ProbeBinary == "" {
			continue
		}
		if c.plan.KeepHost && (ph.name == PhaseSuite || ph.name == PhaseCollect) {
			continue // `up` hands over a ready host; the suite is the user's to run
		}
		if err := c.phase(ctx, ph.name, ph.fn); err != nil {
			// The host's logs help explain a failed ready, probe or suite.
			if ph.name != PhaseCollect && c.canCollect(ctx) {
				c.phase(ctx, PhaseCollect, c.collect)
			}
			return
		}
	}
}

// canCollect says whether there are logs to fetch: a host that is
// connected and still answering, or whose console the provider reads; and
// the leg not cancelled or out of time.
func (c *cycle) canCollect(ctx context.Context) bool {
	if ctx.Err() != nil || c.host == nil {
		return false
	}
	_, console := c.plan.Provider.(providers.ConsoleReader)
	return c.connected() || (console && c.host.ID != "")
}

// connected says whether the host's SSH connection is up and answering.
func (c *cycle) connected() bool {
	return c.client != nil && c.client.Err() == nil
}

// deadlineError is the cause of the overall deadline: timeout-minutes less
// the teardown budget kept back for the teardown.
type deadlineError struct {
	timeout, teardown time.Duration
	// reserved is what the caller kept back of timeout-minutes (for the
	// final report) before the cycle started.
	reserved time.Duration
}

func (e *deadlineError) Error() string {
	less := "teardown-budget " + shortDuration(e.teardown)
	if e.reserved > 0 {
		less += " and " + shortDuration(e.reserved) + " kept for reporting"
	}
	return fmt.Sprintf("stopped at the timeout-minutes limit (%s, less %s)", shortDuration(e.timeout), less)
}

// shortDuration drops a duration's zero tails: 2m, not 2m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// limitError is the cause of a context ended by a limit of its own (a
// phase's, an upload's), so the error names what ran out of time.
type limitError struct {
	what  string
	limit time.Duration
	// input, when set, is the input the limit comes from (ready-timeout),
	// so the error says what to change.
	input string
	// detail, when set, says what was still being waited for.
	detail string
}

func (e *limitError) Error() string {
	var s string
	if e.input != "" {
		s = fmt.Sprintf("%s did not finish within %s (%s)", e.what, e.input, shortDuration(e.limit))
	} else {
		s = fmt.Sprintf("%s did not finish within its limit of %s", e.what, e.limit)
	}
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

// withLimit bounds ctx by limit, naming what in the error when it ends.
func withLimit(ctx context.Context, what string, limit time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, limit, &limitError{what: what, limit: limit})
}

// phaseLimit is the phase's own deadline; 0 means the phase bounds its
// parts itself (ready, the steps) or only the overall deadline applies.
func (c *cycle) phaseLimit(name string) time.Duration {
	switch name {
	case PhasePreflight:
		return c.plan.PreflightTimeout
	case PhaseProvision:
		return c.plan.ProvisionTimeout
	}
	return 0
}

// phase runs fn as the named phase, recording its duration and verdict.
func (c *cycle) phase(ctx context.Context, name string, fn func(context.Context) error) error {
	fmt.Fprintf(c.out, "==> %s\n", name)
	pr := PhaseResult{Name: name, Started: c.plan.now()}
	// run is the run's context, without the phase's own limit: its end (a
	// signal, the overall deadline) stops the phase without a verdict,
	// while running out of the phase's own limit is the phase failing.
	run := ctx
	if limit := c.phaseLimit(name); limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = withLimit(ctx, "the "+name+" phase", limit)
		defer cancel()
	}
	var err error
	// A panic in the phase fails it, and the cleanups still run.
	if perr := c.protect(name, func() { err = fn(ctx) }); perr != nil {
		err = perr
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	pr.Duration = c.plan.now().Sub(pr.Started)
	switch {
	case err != nil && name == PhaseTeardown && c.late.Load() && run.Err() != nil:
		// The signal during the teardown ended it before it was done:
		// no failure of the leg, whose verdict came before, but not done
		// either. It reads pending, and the result is not torn down, so
		// whoever sweeps later (the post step) does.
		pr.Status = matrix.Pending
		pr.Stopped = true
		pr.Error = "cut short by a signal (" + describe(ctx, err) + "); what it did not delete is left: " + c.laterSweep()
		c.mu.Lock()
		c.res.TeardownDeferred = true
		c.mu.Unlock()
		fmt.Fprintf(c.out, "⏳ %s cut short by the signal after %s; %s\n", name, pr.Duration.Round(time.Millisecond), c.laterSweep())
	case err != nil:
		pr.Status = matrix.Fail
		pr.Stopped = run.Err() != nil
		pr.Error = describe(ctx, err)
		c.mu.Lock()
		c.res.fail("%s: %s", name, pr.Error)
		if name == PhasePreflight && ctx.Err() == nil {
			c.res.Refusal = authRefusal(err)
		}
		c.mu.Unlock()
		var limit *deadlineError
		if pr.Error == "cancelled" {
			// A signal is no failure of the phase: say what happened.
			fmt.Fprintf(c.out, "✗ %s cancelled after %s\n", name, pr.Duration.Round(time.Millisecond))
		} else if run.Err() != nil && errors.As(context.Cause(run), &limit) {
			// Nor is the overall limit: the leg timed out, whatever the
			// phase was doing.
			fmt.Fprintf(c.out, "⏱ %s timed out after %s: %s\n", name, pr.Duration.Round(time.Millisecond), pr.Error)
		} else {
			fmt.Fprintf(c.out, "✗ %s failed after %s: %s\n", name, pr.Duration.Round(time.Millisecond), pr.Error)
		}
	default:
		pr.Status = matrix.Pass
		fmt.Fprintf(c.out, "✓ %s (%s)\n", name, pr.Duration.Round(time.Millisecond))
	}
	c.mu.Lock()
	c.res.Phases = append(c.res.Phases, pr)
	c.mu.Unlock()
	c.progress()
	return err
}

// authRefusal is the provider's own message of a refusal for credentials
// ("Needs AWS credentials: set …"), without the class and phase the
// cycle's errors carry; "" for any other error.
func authRefusal(err error) string {
	var pe *providers.Error
	if providers.ClassOf(err) != providers.ClassAuth || !errors.As(err, &pe) {
		return ""
	}
	return strings.ReplaceAll(pe.Err.Error(), "\n", " ")
}

// describe turns an error into one line, naming cancellation and deadlines
// plainly instead of as "context canceled".
func describe(ctx context.Context, err error) string {
	var deadline *deadlineError
	if errors.As(context.Cause(ctx), &deadline) {
		return deadline.Error()
	}
	var limit *limitError
	if errors.As(context.Cause(ctx), &limit) || errors.As(err, &limit) {
		return "timed out: " + limit.Error()
	}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		msg := strings.TrimSuffix(providers.Message(err), ": context deadline exceeded")
		if msg == context.DeadlineExceeded.Error() {
			return "timed out"
		}
		return "timed out: " + msg
	}
	// Without the error classes (invalid:, auth:): they steer the
	// candidate loop and mean nothing to the reader.
	return strings.ReplaceAll(providers.Message(err), "\n", " ")
}

func (c *cycle) progress() {
	if c.plan.OnProgress == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A report is no reason to skip the cleanups.
	if err := c.protect("the progress hook", func() { c.plan.OnProgress(c.res) }); err != nil {
		fmt.Fprintf(c.out, "!! %v\n", err)
	}
}

// preflight checks everything that can be checked without creating anything:
// the KVM catalog, the provider's own checks, then the keys and user data
// for the host.
func (c *cycle) preflight(ctx context.Context) error {
	if err := c.checkProbeBinary(); err != nil {
		return err
	}
	// The catalog's refusal of a type known to lack KVM is the cycle's,
	// not left to each adapter: one that forgot it would launch (and
	// bill) a host the kvm lane cannot use. Every candidate is checked
	// before any provider call, as the catalog costs nothing to ask.
	for i, cand := range c.plan.Candidates {
		if err := c.checkKVM(cand); err != nil {
			return c.nameCandidate(i, err)
		}
	}
	req := c.request(c.plan.Candidates[0])
	for i, cand := range c.plan.Candidates {
		req.Candidate = cand
		if err := c.plan.Provider.Preflight(ctx, req); err != nil {
			return c.nameCandidate(i, err)
		}
	}
	if err := c.checkBudget(); err != nil {
		return err
	}
	keys, err := remote.GenerateKeys()
	if err != nil {
		return fmt.Errorf("generate run keys: %w", err)
	}
	c.keys = keys
	c.out.Flush()
	c.out = remote.NewMasker(c.plan.out(), append(append([]string{}, c.plan.Secrets...), keys.Secrets()...))
	c.userData, err = cloudinit.Render(cloudinit.Config{
		User:              c.plan.User,
		AuthorizedKeys:    []string{keys.ClientAuthorized},
		HostKeyPrivatePEM: string(keys.HostPrivatePEM),
		HostKeyPublic:     keys.HostPublic,
		Packages:          c.plan.Packages,
		Bootstrap:         c.plan.Bootstrap,
		ReadyMarker:       c.readyMarker(),
		TTL:               c.plan.TTL,
	})
	if err != nil {
		return fmt.Errorf("render user data: %w", err)
	}
	return c.discoverSourceCIDR(ctx)
}

// checkProbeBinary refuses, before anything is created or changed, a
// probe binary no host could run (not a Linux executable: every host the
// cycle drives is Linux) and a dynamically linked one for a host known not
// to be this machine: a cloud's, never this machine, or the one the plan
// names (ssh-host). Hosts learned only from the provider's create (local,
// qemu) are checked again in the probe phase, against what they are.
func (c *cycle) checkProbeBinary() error {
	bin, input := c.plan.ProbeBinary, c.plan.ProbeBinaryInput
	if bin == "" {
		return nil
	}
	if err := checkProbeOS(bin, input); err != nil {
		return err
	}
	if c.plan.Info.Billed || c.plan.HostAddress != "" {
		return checkProbeLinking(bin, input, c.plan.HostAddress)
	}
	return nil
}

// checkKVM refuses cand, unless the lane is no-kvm, when the KVM catalog
// knows its type, as the provider would resolve it, lacks KVM.
func (c *cycle) checkKVM(cand providers.Candidate) error {
	p := c.plan.Provider
	typ := cmp.Or(providers.Resolve(p, cand).Type, c.plan.Info.DefaultType)
	return providers.CheckKVM(p.Name(), typ, c.plan.Lane, "")
}

// nameCandidate says which candidate a preflight refusal is about: a
// refused field value is blamed on the input it came from (the provider
// knows only the field, and would name the single input instance-type for
// a type from the candidates list); any other refusal of one of several
// candidates, bar credentials, which are no candidate's, names the entry.
func (c *cycle) nameCandidate(i int, err error) error {
	if c.plan.CandidateInput == nil {
		return err
	}
	var in *providers.InputError
	if errors.As(err, &in) && in.Field != "" {
		// The provider made this error for this call; naming its input
		// in place keeps the chain (class, code) as it is. (An input
		// error of no candidate field, such as ssh-source-cidr's, names
		// its input already.)
		in.Input = c.plan.CandidateInput(i, in.Field)
		return err
	}
	entry := c.plan.CandidateInput(i, "")
	if entry == "" || len(c.plan.Candidates) < 2 || providers.ClassOf(err) == providers.ClassAuth {
		return err
	}
	return fmt.Errorf("%s (%s): %w", entry, c.plan.Candidates[i], err)
}

// checkBudget refuses a leg whose worst case costs more than max-cost: the
// hourly list price of each candidate's type for the whole leg timeout. A
// type without a known price cannot be checked and is refused too, since
// the budget was asked for. A refusal is a *providers.InputError naming
// max-cost, as every refused input is.
func (c *cycle) checkBudget() error {
	limit := c.plan.MaxCostUSD
	if limit <= 0 || !c.plan.Info.Billed {
		return nil
	}
	// The input as a number: 2.50 reads 2.5, the value being the amount.
	given := strconv.FormatFloat(limit, 'f', -1, 64)
	for _, cand := range c.plan.Candidates {
		typ := cmp.Or(cand.Type, c.plan.Info.DefaultType)
		k, _ := providers.KVMSupport(c.plan.Info.Name, typ)
		if k.PricePerHour == 0 {
			return &providers.InputError{Input: "max-cost", Value: given,
				Expected: "no max-cost for a type without a list price (or a type from the price catalog)",
				Err:      fmt.Errorf("no list price known for %s type %q, so the budget of $%.2f cannot be checked", c.plan.Info.Name, typ, limit)}
		}
		worst := k.PricePerHour * c.plan.Timeout.Hours()
		if worst > limit {
			return &providers.InputError{Input: "max-cost", Value: given,
				Expected: fmt.Sprintf("at least $%.2f, or a cheaper type or a shorter timeout-minutes", worst),
				Err:      fmt.Errorf("%s at $%.4f/h for up to %s could cost $%.2f, over the budget of $%.2f", typ, k.PricePerHour, c.plan.Timeout, worst, limit)}
		}
	}
	return nil
}

func (c *cycle) readyMarker() string {
	return "/var/lib/mvm-verify/ready-" + c.plan.Identity.Name()
}

// request is the provider request for one candidate.
func (c *cycle) request(cand providers.Candidate) providers.Request {
	req := providers.Request{
		Identity:      c.plan.Identity,
		Candidate:     cand,
		Lane:          c.plan.Lane,
		DiskGB:        c.plan.DiskGB,
		Image:         c.plan.Image,
		User:          c.plan.User,
		UserData:      c.userData,
		SSHSourceCIDR: c.plan.SSHSourceCIDR,
		TTL:           c.plan.TTL,
		ReadyMarker:   c.readyMarker(),
	}
	if c.keys != nil {
		req.ClientAuthorizedKey = c.keys.ClientAuthorized
		req.HostKeyPEM = c.keys.HostPrivatePEM
		req.HostKey = c.keys.HostPublic
	}
	return req
}

// journal records created resources into the Result and the plan's journal.
type journal struct{ c *cycle }

func (j journal) Record(r providers.Resource) {
	j.c.mu.Lock()
	j.c.res.Created = append(j.c.res.Created, r)
	j.c.mu.Unlock()
	if j.c.plan.Journal != nil {
		j.c.plan.Journal.Record(r)
	}
}

// laterSweep says who finishes a teardown this process could not confirm:
// the action's post step sweeps again by tag; after a CLI command (at a
// terminal, or in a workflow's run: step) nothing does.
func (c *cycle) laterSweep() string {
	if c.plan.PostStep {
		return "the post step sweeps again"
	}
	return SweepHint(c.plan.Identity)
}

// SweepHint tells the user what to look for when no later sweep finishes a
// teardown that could not be confirmed: the resources tagged with the
// leg's run and leg id.
func SweepHint(id providers.Identity) string {
	hint := "check for resources tagged " + providers.TagRun + "=" + id.Run()
	if id.Leg != "" {
		hint += " and " + providers.TagLeg + "=" + id.Leg
	}
	return hint
}

// provision creates the host. The destroy cleanup is pushed before the
// create call, so a create that fails or is cancelled half-way is still
// cleaned up by tag.
func (c *cycle) provision(ctx context.Context) error {
	id := c.plan.Identity
	c.cleanups.push("destroy "+c.plan.Provider.Name()+" resources", func(ctx context.Context) error {
		rep, err := c.plan.Provider.Destroy(ctx, id)
		for _, d := range rep.Deleted {
			fmt.Fprintf(c.out, "   deleted %s %s\n", d.Kind, d.ID)
		}
		if rep.Deferred {
			// Not a failure: the deletes were issued, and the post step
			// (which does not trust STATE_torn-down then) sweeps again.
			c.mu.Lock()
			c.res.TeardownDeferred = true
			c.mu.Unlock()
			fmt.Fprintf(c.out, "   teardown not confirmed in time, %s: %s\n", c.laterSweep(), strings.Join(rep.Notes, "; "))
		}
		return err
	})
	host, attempts, err := providers.CreateWithFallback(ctx, c.plan.Provider, c.request(providers.Candidate{}), c.plan.Candidates, journal{c}, c.plan.Fallback)
	// Attempts are worth listing where there are candidates to choose
	// from (the clouds, or a fallback that tried more than one): local's
	// or ssh's one attempt says nothing the provision phase does not.
	if c.plan.Info.Billed || len(attempts) > 1 {
		c.mu.Lock()
		c.res.Attempts = attempts
		c.mu.Unlock()
	}
	if err != nil {
		return err
	}
	c.host = host
	if host.User == "" {
		host.User = c.plan.User
	}
	if host.Port == 0 {
		host.Port = 22
	}
	c.mu.Lock()
	c.res.Host = &HostInfo{
		Address: host.Address, Port: host.Port, User: host.User, ID: host.ID,
		Type: host.Type, Region: host.Region, Zone: host.Zone, Price: host.PricePerHour, HostKey: host.HostKey,
	}
	c.mu.Unlock()
	fmt.Fprintf(c.out, "   host %s:%d %s %s\n", host.Address, host.Port, host.ID, host.Type)
	return nil
}
