package config

import (
	"cmp"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
)

// Run is one invocation of mvm-verify, every input parsed and validated.
type Run struct {
	Mode     string // ModeRun, ModeUp, ModeDown or ModeReport
	Provider string // empty only in report, and in down before up's state is read
	// Lane is "auto", "kvm" or "no-kvm" as given; ResolveLane turns auto
	// into the lane the provider request gets.
	Lane string
	// Key is the matrix row key: the provider, or provider-no-kvm.
	Key string
	// Display is the matrix's Provider column text; empty means the
	// provider's own display name.
	Display string

	// SuitePath is the suite input, empty for the built-in suite.
	SuitePath string
	// Suite is loaded and expanded (variables replaced, step timeouts filled
	// in) in run and up; nil in the other modes.
	Suite *Suite
	// Repository and Ref are what the suite checks out (${MVM_REPO}, ${MVM_REF}).
	Repository string
	Ref        string

	Out            string
	TimeoutMinutes int
	TeardownBudget time.Duration
	ReadyTimeout   time.Duration
	StepTimeout    time.Duration
	TTL            time.Duration
	DiskGB         int
	Image          string

	// Region, Zone, InstanceType and Market are the inputs as given; the
	// places to try are in Candidates.
	Region       string
	Zone         string
	InstanceType string
	Market       string
	// Candidates is the ordered list to try, never empty in run and up:
	// the candidates input with missing fields filled from region, zone,
	// instance-type and market, or the one candidate those make. With
	// spot-failover, each spot candidate is already followed by its
	// on-demand twin.
	Candidates   []providers.Candidate
	SpotFailover bool

	// SSHSourceCIDR is the range allowed to reach tcp/22; empty means the
	// runner's egress IP, to be detected. "0.0.0.0/0" only with
	// AllowSSHFromAnywhere.
	SSHSourceCIDR        string
	AllowSSHFromAnywhere bool
	InsecureHostKey      bool
	// MaxCostUSD is the budget for the leg; 0 means no limit.
	MaxCostUSD float64
	// ProbeBinary is the linux mvm-verify to upload; empty means the
	// running executable (see ProbeBinaryPath).
	ProbeBinary string

	GitHubToken  string // secret
	GitHubAPIURL string
	// GitHubRepo ("owner/name"), PullRequest and HeadSHA say where the
	// reporting writes; empty or 0 when neither an input nor the Actions
	// environment says.
	GitHubRepo  string
	PullRequest int
	HeadSHA     string
	Comment     bool
	MatrixFile  string
	// Expect lists the row keys the report job waits for: a leg that never
	// reported still gets its row, as "?".
	Expect []string

	// CheckRunID is the job's check run id (input check-run-id), 0 when
	// not given: the leg's status links the job's page built from it.
	CheckRunID int64

	// Inputs holds the value of every input that has one, defaults and
	// fallbacks applied, by name; an input without a value is absent. It is
	// what provider factories read (providers.Options.Input = run.Input).
	Inputs map[string]string
	// Warnings are things the user should hear about that are not errors:
	// inputs that do not apply, host key checking turned off.
	Warnings []string

	// candidateFrom is, for each of Candidates, the entry of the
	// candidates input it came from; nil without that input.
	candidateFrom []candidateSource

	// extraSecrets are secret values that are not input values, such as the
	// contents of ssh-private-key-file.
	extraSecrets []string
}

// Input returns the value of an input, "" when unset; fits providers.Options.Input.
func (r *Run) Input(name string) string { return r.Inputs[name] }

// IsSecret reports whether the named input holds a secret.
func (r *Run) IsSecret(name string) bool {
	for _, in := range Inputs() {
		if in.Name == name {
			return in.Secret
		}
	}
	return false
}

// Deadline is how long the work may take: timeout-minutes minus the
// teardown budget, so teardown always finishes inside the job.
func (r *Run) Deadline() time.Duration {
	return time.Duration(r.TimeoutMinutes)*time.Minute - r.TeardownBudget
}

// ProbeBinaryPath is the binary to upload for the host probe.
func (r *Run) ProbeBinaryPath() (string, error) {
	if r.ProbeBinary != "" {
		return r.ProbeBinary, nil
	}
	return os.Executable()
}

// Secrets lists the secret values to mask (::add-mask::) and redact: each
// secret input's value and, for multi-line values such as private keys, each
// line on its own, since the runner masks line by line.
func (r *Run) Secrets() []string {
	var values []string
	for _, in := range Inputs() {
		if in.Secret {
			values = append(values, r.Inputs[in.Name])
		}
	}
	values = append(values, r.extraSecrets...)

	var out []string
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			continue
		}
		out = append(out, v)
		if strings.Contains(v, "\n") {
			for _, l := range strings.Split(v, "\n") {
				if l = strings.TrimSpace(l); len(l) >= 4 {
					out = append(out, l)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Redact replaces every secret value in s with "***".
func (r *Run) Redact(s string) string {
	secrets := r.Secrets()
	// Longest first, so a whole key goes before one of its lines.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "***")
	}
	return s
}

// ResolveLane is the lane a provider request gets: kvm or no-kvm. auto is
// no-kvm when the provider offers only that lane, kvm otherwise.
func ResolveLane(lane string, offered []string) string {
	if lane != LaneAuto {
		return lane
	}
	if len(offered) > 0 && !slices.Contains(offered, LaneKVM) && slices.Contains(offered, LaneNoKVM) {
		return LaneNoKVM
	}
	return LaneKVM
}

// Lanes.
const (
	LaneAuto  = "auto"
	LaneKVM   = "kvm"
	LaneNoKVM = "no-kvm"
)
