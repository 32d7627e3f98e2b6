// Package verify is the verification cycle: preflight → provision → ready →
// probe → suite → collect → teardown, with a cleanup stack unwound in reverse,
// a deadline per phase and one overall that keeps the teardown budget in
// reserve, and a Result the reports are rendered from.
package verify

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/providers"
)

// Step is one command of the suite, run on the host as the suite's user.
type Step struct {
	Name    string
	Run     string
	Timeout time.Duration
	// NeedsKVM steps read n/a in the no-KVM lane instead of running.
	NeedsKVM bool
	// Column is the matrix column the step's verdict feeds; "" feeds none
	// (its failure still fails the live cycle).
	Column matrix.Column
	// Parse is "libtest" (count tests; zero tests is not run), "passfail"
	// (exit status and PASS/FAIL lines; no PASS line is not run) or "exit".
	Parse string
	Env   map[string]string
}

// Upload is a local file copied to the host before the steps run.
type Upload struct {
	Src  string
	Dst  string
	Mode os.FileMode
}

// Plan is one leg, fully decided: what to create, what to run, how long each
// part may take. The CLI builds it from the validated configuration.
type Plan struct {
	Provider providers.Provider
	// Display is the provider's name as the matrix shows it ("AWS").
	Display  string
	Identity providers.Identity
	// Candidates are tried in order; at least one (it may be empty fields).
	Candidates []providers.Candidate
	// CandidateInput names the input a field ("region", "zone", "type",
	// "market") of Candidates[i] came from, such as "candidates[1].type",
	// so a refused value is blamed on what the user wrote; for field ""
	// it names the entry, or "" when there is no candidates input. nil
	// means the single inputs (region, zone, instance-type, market).
	CandidateInput func(i int, field string) string
	// Lane is "auto", "kvm" or "no-kvm". auto is resolved before preflight
	// from Info.Lanes (no-kvm when the provider offers only that, else
	// kvm); the host probe then confirms the lane and fails a kvm leg on a
	// host without usable KVM.
	Lane          string
	DiskGB        int
	Image         string
	TTL           time.Duration
	SSHSourceCIDR string
	// DiscoverSourceCIDR, when set, decides SSHSourceCIDR at the end of
	// the preflight, after the provider's own checks (so a missing
	// credential is reported before a failed lookup of the runner's
	// address) and before anything is created. Its error fails the
	// preflight as it is.
	DiscoverSourceCIDR func(ctx context.Context) (string, error)

	// The suite.
	User      string
	Packages  []string
	Bootstrap []string
	Uploads   []Upload
	Steps     []Step

	// ProbeBinary is a linux build of this program, uploaded and run as
	// `probe --json` on the host. Empty skips the host probe.
	ProbeBinary string
	// ProbeBinaryInput names the input ProbeBinary came from
	// ("probe-binary"), for errors; empty means it is this running program,
	// whose platform is runtime.GOOS/GOARCH.
	ProbeBinaryInput string

	// HostAddress is the host's address when it is known before anything is
	// created or changed (ssh: the ssh-host given); "" for a host the
	// provider has yet to create. Preflight checks the probe binary
	// against it, so one the host could not run is refused before ready
	// installs packages, creates the suite's user and runs the bootstrap
	// there.
	HostAddress string

	// HostInputs name the inputs a host the provider did not create was
	// given by (ssh: bring your own), so that SSH never getting in is
	// reported as the input to fix and as a leg that could not start.
	// Zero for providers that create their hosts.
	HostInputs HostInputs

	// Timeout bounds the whole leg, teardown included.
	Timeout time.Duration
	// TeardownBudget is kept in reserve from Timeout for the cleanups.
	TeardownBudget time.Duration
	// TimeoutMinutes is timeout-minutes as given, for the deadline's
	// error when Timeout is less (time kept back for reporting); 0 means
	// Timeout is all of it.
	TimeoutMinutes time.Duration
	// CancelBudget bounds the cleanups after a signal: the runner sends
	// SIGKILL about 10 s after cancelling, so this stays well under that.
	CancelBudget time.Duration
	// PreflightTimeout bounds the preflight phase (the provider's checks
	// are API calls that can hang like any other).
	PreflightTimeout time.Duration
	// ProvisionTimeout bounds the provision phase: every candidate's create.
	ProvisionTimeout time.Duration
	// ReadyTimeout bounds waiting for SSH and cloud-init.
	ReadyTimeout time.Duration
	// UnreachableLimit bounds how long SSH to a host that already exists
	// (ssh: nothing is booting) is retried while every attempt is refused
	// or its name does not resolve: that is a wrong port or host name, not
	// a boot to wait out; 0 means DefaultUnreachableLimit.
	UnreachableLimit time.Duration
	// UploadTimeout bounds each upload (the probe binary, the suite's files).
	UploadTimeout time.Duration
	// ReadyPoll is the interval between readiness checks (tests shrink it).
	ReadyPoll time.Duration
	// DialBackoff is the first retry interval for SSH dials (tests shrink it).
	DialBackoff time.Duration
	// Dial connects to the host (remote.Dial when nil); tests wrap it to
	// see the options the cycle dials with.
	Dial func(context.Context, remote.Target, remote.DialOptions) (*remote.Client, error)
	// Heartbeat is how long a step, bootstrap or upload may be silent
	// before the live output says it is still running (tests shrink it);
	// 0 means DefaultHeartbeat.
	Heartbeat time.Duration

	// MaxCostUSD refuses the leg at preflight when a candidate's list
	// price for the whole Timeout would exceed it; 0 means no limit.
	MaxCostUSD float64
	// Info is the provider's registry entry: whether it bills (only then
	// is the budget checked) and its default type.
	Info providers.Info

	// InsecureHostKey is the user's insecure-host-key: only then may a
	// host whose key the provider does not report be reached unpinned
	// (with a warning). Never for a host booted from our user data.
	InsecureHostKey bool

	// KeepHost stops after the probe and skips teardown (`mvm-verify up`).
	KeepHost bool

	// Journal, when set, also receives every created resource (the CLI
	// persists them to the action state).
	Journal providers.Journal
	// HostJournal, when set, receives the host-side cleanups still to do
	// whenever they change (the CLI persists them for the post step).
	HostJournal HostJournal
	// Fallback tunes the candidate loop.
	Fallback providers.FallbackOptions

	// Out receives live progress and step output; Actions selects ::group::
	// blocks instead of prefixed lines.
	Out     io.Writer
	Actions bool
	// PostStep is set when a post step follows this process and sweeps
	// again by tag (the Docker action's main step): a teardown not
	// confirmed in time is left to it. Unset, as for a CLI command also
	// inside Actions (a workflow's run: step has no post step), the
	// output says what to check instead.
	PostStep bool
	// Secrets are masked in everything written to Out and kept in Result.
	Secrets []string
	// OnProgress is called after each phase and step (for a pending status or
	// a progressing PR comment). It must not block for long.
	OnProgress func(*Result)
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// OnVerdict, when set, is called once the phases are done and before
	// the teardown starts, with the result as it stands then: its Outcome
	// and Row are the leg's verdict as Run would return it if the teardown
	// passed. The CLI saves it, so a process killed during the teardown
	// (the runner's SIGKILL) still leaves the verdict for the post step.
	// The result may be read only during the call; it must not block for
	// long. Not called for a host `up` keeps (no teardown).
	OnVerdict func(*Result)
}

func (p *Plan) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Plan) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (p *Plan) out() io.Writer {
	if p.Out != nil {
		return p.Out
	}
	return io.Discard
}

// HostInputs are the names of the inputs that say how to reach an existing
// host; an empty name is an input the provider does not have.
type HostInputs struct {
	Host, Port, User string
	// Key is the input the private key came from.
	Key string
	// KnownHost pins the host key.
	KnownHost string
}
