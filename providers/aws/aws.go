// Package aws is the Amazon EC2 adapter: one instance per leg, with a per-run
// security group open to the runner only, keys only through user data, a
// 50 GB gp3 root volume, nested virtualization on C8i/M8i/R8i, and teardown
// by tag lookup. Tests drive it through the real SDK against providers/aws/fake.
package aws

import (
	"context"
	"fmt"
	"regexp"
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
		New: func(o providers.Options) (providers.Provider, error) { return New(o, Config{}) },
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

var (
	regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	typePattern   = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
)

// New validates the inputs; it calls no API.
func New(o providers.Options, cfg Config) (*Provider, error) {
	p := &Provider{
		opts: o, cfg: cfg,
		endpoint: o.In("aws-endpoint"), zone: o.In("zone"), typ: o.In("instance-type"), market: o.In("market"),
		subnet: o.In("subnet-id"), image: o.In("image"), role: o.In("aws-role-to-assume"),
		poll: defaultPoll, goarch: probeArch(cfg, o.In("probe-binary")),
	}
	p.region = firstNonEmpty(o.In("region"), o.Env("AWS_REGION"), o.Env("AWS_DEFAULT_REGION"), DefaultRegion)
	if p.typ == "" {
		p.typ = DefaultType
	}
	// The audience aws-actions/configure-aws-credentials asks for, which
	// the role's trust policy names.
	p.audience = "sts.amazonaws.com"
	if o.PollInterval > 0 {
		p.poll = o.PollInterval
	}
	if err := checkRegion("region", p.region); err != nil {
		return nil, err
	}
	if p.zone != "" && !inRegion(p.region, p.zone) {
		return nil, fmt.Errorf("input zone %q: expected an availability zone of region %s such as %sa", p.zone, p.region, p.region)
	}
	if err := checkType("instance-type", p.typ); err != nil {
		return nil, err
	}
	switch p.market {
	case "", providers.MarketOnDemand:
		p.market = providers.MarketOnDemand
	case providers.MarketSpot:
	default:
		return nil, fmt.Errorf("input market %q: expected on-demand or spot", p.market)
	}
	if p.subnet != "" && !regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`).MatchString(p.subnet) {
		return nil, fmt.Errorf("input subnet-id %q: expected an id such as subnet-0123456789abcdef0", p.subnet)
	}
	if p.role != "" && !regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`).MatchString(p.role) {
		return nil, fmt.Errorf("input aws-role-to-assume %q: expected a role ARN such as arn:aws:iam::123456789012:role/mvm-verify", p.role)
	}
	// Destroy in a fresh post step sweeps every candidate's region.
	p.regions = []string{p.region}
	for i, c := range o.Candidates {
		name := func(field string) string { return fmt.Sprintf("candidates[%d].%s", i, field) }
		if o.CandidateInput != nil {
			name = func(field string) string { return o.CandidateInput(i, field) }
		}
		if err := checkCandidate(name, c, p.region); err != nil {
			return nil, err
		}
		if c.Region != "" && !contains(p.regions, c.Region) {
			p.regions = append(p.regions, c.Region)
		}
	}
	return p, nil
}

// checkCandidate checks one entry of the candidates input, naming each
// field by the input it came from (name), so a bad value is not blamed on
// the single inputs. Empty fields are filled from those inputs, which are
// checked apart.
func checkCandidate(name func(field string) string, c providers.Candidate, defaultRegion string) error {
	if c.Region != "" {
		if err := checkRegion(name("region"), c.Region); err != nil {
			return err
		}
	}
	region := firstNonEmpty(c.Region, defaultRegion)
	if c.Zone != "" && !inRegion(region, c.Zone) {
		return fmt.Errorf("input %s %q: expected an availability zone of region %s such as %sa", name("zone"), c.Zone, region, region)
	}
	if c.Type != "" {
		if err := checkType(name("type"), c.Type); err != nil {
			return err
		}
	}
	switch c.Market {
	case "", providers.MarketOnDemand, providers.MarketSpot:
	default:
		return fmt.Errorf("input %s %q: expected on-demand or spot", name("market"), c.Market)
	}
	return nil
}

// inRegion reports whether zone is an availability zone name of region
// (us-east-1a, or a local zone such as us-east-1-bos-1a).
func inRegion(region, zone string) bool {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(region) + `(-[a-z]+-\d)?[a-z]$`).MatchString(zone)
}

func checkRegion(what, r string) error {
	if !regionPattern.MatchString(r) {
		return fmt.Errorf("input %s %q: expected an AWS region such as us-east-1", what, r)
	}
	return nil
}

func checkType(what, t string) error {
	if !typePattern.MatchString(t) {
		return fmt.Errorf("input %s %q: expected an EC2 instance type such as c8i.large or c5.metal", what, t)
	}
	return nil
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
