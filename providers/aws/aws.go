// Package aws is the Amazon EC2 adapter: one instance per leg, with a per-run
// security group open to the runner only, keys only through user data, a
// 50 GB gp3 root volume, nested virtualization on C8i/M8i/R8i, and teardown
// by tag lookup. Tests drive it through the real SDK against providers/aws/fake.
package aws

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tinylabscom/mvm-verify/providers"
)

// Name is the registry name.
const Name = "aws"

// Defaults.
const (
	DefaultRegion = "us-east-1"
	DefaultType   = "c8i.large"
	// DefaultDiskGB is the root volume's size when the request names none
	// (the disk-gb input's default too).
	DefaultDiskGB = 50
	// UbuntuParameter is the public SSM parameter of Canonical's current
	// Ubuntu 24.04 amd64 gp3 image (UbuntuARMParameter for arm64 hosts).
	UbuntuParameter = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
	defaultPoll     = 5 * time.Second
)

// inputs the adapter reads. disk-gb reaches it as Request.DiskGB, checked
// by internal/config alone.
func inputs() []string {
	return []string{
		"aws-endpoint", "region", "zone", "instance-type", "market", "spot-failover", "subnet-id", "image", "disk-gb",
		"aws-role-to-assume", "candidates",
	}
}

// Entry registers the adapter.
func Entry() providers.Entry {
	return providers.Entry{
		Info: providers.Info{
			Name: Name,
			// The matrix row's name, as in the verification table.
			Description: "AWS",
			Creates:     true,
			Billed:      true,
			DefaultType: DefaultType,
			Lanes:       []string{providers.LaneKVM, providers.LaneNoKVM},
			Inputs:      inputs(),
			Credentials: credentialSources,
		},
		New:   func(o providers.Options) (providers.Provider, error) { return New(o, Config{}) },
		Check: Check,
	}
}

// Config holds what tests inject beyond providers.Options.
type Config struct {
	// RetryBackoff replaces the SDK's retry backoff (attempt is 1-based).
	RetryBackoff func(attempt int) time.Duration
	// Sleep waits between polls; default a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Arch is the Go architecture (amd64, arm64) of the probe binary the
	// host will run, so of the host; default: the probe-binary input's,
	// else this program's.
	Arch string
}

// Provider is the EC2 adapter.
type Provider struct {
	opts providers.Options
	cfg  Config

	endpoint, region, zone, typ, market string
	subnet, image, role, audience       string
	goarch                              string // the probe binary's, so the host's (probeArch)
	mu                                  sync.Mutex
	regions                             []string // every region this leg may use, for Destroy and List
	poll                                time.Duration

	// attempts counts, per identity name, the Destroy calls so far: each
	// starts a new launch attempt, whose ClientToken is its own (see
	// clientToken). Guarded by mu.
	attempts map[string]uint64

	cfgOnce sync.Once
	cfg0    sdk.Config // region-less; clientsFor copies it per region
	cfgErr  error
	// creds is cfg0's credentials cache, which the retryer empties when
	// AWS says the session in it expired; refreshable says whether the
	// credentials last retrieved expire (and so can be minted again).
	creds       *sdk.CredentialsCache
	refreshable atomic.Bool
	// session says whether those credentials carry a session token (are
	// temporary), which picks the hint an expired-request error gets.
	session atomic.Bool
}

// The forms of the adapter's inputs, compiled once. These are the one
// definition of each: internal/config runs Check at load time, and the
// preflight checks each candidate with fieldError.
var (
	regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	typePattern   = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	// zoneSuffix is what follows the region in a zone's name: a letter
	// (us-east-1a), or a local zone's group and a letter (us-east-1-bos-1a).
	zoneSuffix     = regexp.MustCompile(`^(-[a-z]+-\d)?[a-z]$`)
	subnetPattern  = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	roleARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$`)
)

// New validates the inputs as Check does; it calls no API.
func New(o providers.Options, cfg Config) (*Provider, error) {
	p := &Provider{
		opts: o, cfg: cfg,
		endpoint: o.In("aws-endpoint"), zone: o.In("zone"), typ: cmp.Or(o.In("instance-type"), DefaultType),
		market: cmp.Or(o.In("market"), providers.MarketOnDemand),
		subnet: o.In("subnet-id"), image: o.In("image"), role: o.In("aws-role-to-assume"),
		region: hostRegion(o), poll: defaultPoll, goarch: probeArch(cfg, o.In("probe-binary")),
	}
	// The audience aws-actions/configure-aws-credentials asks for, which
	// the role's trust policy names.
	p.audience = "sts.amazonaws.com"
	if o.PollInterval > 0 {
		p.poll = o.PollInterval
	}
	if err := Check(o); err != nil {
		return nil, err
	}
	// Destroy in a fresh post step sweeps every candidate's region.
	p.regions = []string{p.region}
	for _, c := range o.Candidates {
		if c.Region != "" && !contains(p.regions, c.Region) {
			p.regions = append(p.regions, c.Region)
		}
	}
	return p, nil
}

// hostRegion is the region of the host: the input, else the environment's
// (AWS_REGION, AWS_DEFAULT_REGION), else DefaultRegion.
func hostRegion(o providers.Options) string {
	return cmp.Or(o.In("region"), o.Env("AWS_REGION"), o.Env("AWS_DEFAULT_REGION"), DefaultRegion)
}

// Check checks the adapter's inputs and each entry of the candidates
// (providers.Entry.Check), calling no API: every bad one is an
// *providers.InputError naming the input, the value and the form
// expected; several are joined.
func Check(o providers.Options) error {
	var errs []error
	add := func(err *providers.InputError) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	region := hostRegion(o)
	add(fieldError("region", region, ""))
	if z := o.In("zone"); z != "" {
		add(fieldError("zone", z, region))
	}
	add(fieldError("type", cmp.Or(o.In("instance-type"), DefaultType), ""))
	if m := o.In("market"); m != "" {
		add(fieldError("market", m, ""))
	}
	if v := o.In("subnet-id"); v != "" && !subnetPattern.MatchString(v) {
		add(&providers.InputError{Input: "subnet-id", Value: v, Expected: "a subnet id like subnet-0123456789abcdef0"})
	}
	if v := o.In("aws-role-to-assume"); v != "" && !roleARNPattern.MatchString(v) {
		add(&providers.InputError{Input: "aws-role-to-assume", Value: v, Expected: "a role ARN like arn:aws:iam::123456789012:role/mvm-verify"})
	}
	for i, c := range o.Candidates {
		name := func(field string) string { return fmt.Sprintf("candidates[%d].%s", i, field) }
		if o.CandidateInput != nil {
			name = func(field string) string { return o.CandidateInput(i, field) }
		}
		for _, err := range checkCandidate(name, c, region) {
			// A field the single input filled is named by that input,
			// which is reported once, not once per candidate.
			if !slices.ContainsFunc(errs, func(e error) bool { return e.Error() == err.Error() }) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkCandidate checks one entry of the candidates input, naming each
// field by the input it came from (name), so a bad value is not blamed on
// the single inputs. Empty fields are filled from those inputs, which are
// checked apart.
func checkCandidate(name func(field string) string, c providers.Candidate, defaultRegion string) []error {
	var errs []error
	for _, f := range []struct{ field, value string }{
		{"region", c.Region}, {"zone", c.Zone}, {"type", c.Type}, {"market", c.Market},
	} {
		if f.value == "" {
			continue
		}
		if err := fieldError(f.field, f.value, cmp.Or(c.Region, defaultRegion)); err != nil {
			err.Input = name(f.field)
			errs = append(errs, err)
		}
	}
	return errs
}

// fieldError checks the value of a candidate's field (region, zone, type or
// market; a zone against its region); nil when it is good. The error names
// the field, and reads as the single input until the caller names the
// input the value came from (InputError.Input).
func fieldError(field, value, region string) *providers.InputError {
	var expected string
	switch field {
	case "region":
		if regionPattern.MatchString(value) {
			return nil
		}
		expected = "an AWS region such as us-east-1"
	case "zone":
		if inRegion(region, value) {
			return nil
		}
		expected = fmt.Sprintf("an availability zone of region %s such as %sa", region, region)
	case "type":
		if typePattern.MatchString(value) {
			return nil
		}
		expected = "an EC2 instance type such as c8i.large or c5.metal"
	case "market":
		if value == providers.MarketOnDemand || value == providers.MarketSpot {
			return nil
		}
		expected = "on-demand or spot"
	default:
		panic("aws: no candidate field " + field)
	}
	return &providers.InputError{Field: field, Value: value, Expected: expected}
}

// inRegion reports whether zone is an availability zone name of region
// (us-east-1a, or a local zone such as us-east-1-bos-1a).
func inRegion(region, zone string) bool {
	rest, ok := strings.CutPrefix(zone, region)
	return ok && zoneSuffix.MatchString(rest)
}

// nextAttempt makes the identity's next launch a new attempt: the
// candidate loop destroys a failed attempt before trying the next
// candidate, and that candidate's RunInstances must not send a token EC2
// still holds for the ended instance.
func (p *Provider) nextAttempt(id providers.Identity) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.attempts == nil {
		p.attempts = map[string]uint64{}
	}
	p.attempts[id.Name()]++
}

// attempt is the identity's current launch attempt, 0 before any Destroy.
func (p *Provider) attempt(id providers.Identity) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts[id.Name()]
}

// PollInterval is the wait between polls (providers.Poller).
func (p *Provider) PollInterval() time.Duration { return p.poll }

// LagWindow is how long after a run began EC2's listings may still miss
// its resources (providers.Lagger): the leak check of a run that young
// wants a few empty listings in a row, as Destroy wants quiet sweeps.
func (p *Provider) LagWindow() time.Duration { return lagWindow }

// The optional interfaces the cycle looks for at run time: a method whose
// signature drifted would silently stop being used, so the compiler checks.
var _ interface {
	providers.Provider
	providers.Defaulter
	providers.Poller
	providers.Lagger
	providers.ConsoleReader
} = (*Provider)(nil)

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// DefaultCandidate is the candidate the single region/zone/instance-type/
// market inputs describe; empty fields of any candidate are filled from it.
func (p *Provider) DefaultCandidate() providers.Candidate {
	return providers.Candidate{Region: p.region, Zone: p.zone, Type: p.typ, Market: p.market}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
