// Package providers holds the contract every host provider implements and the
// pieces they share: run identity and tags, candidates, error classes and the
// journal of created resources. Adapters live in providers/<name>; they never
// import the cycle, the CLI or the reporting.
package providers

import (
	"context"
	"time"
)

// Provider creates, finds and deletes the one host a verification leg runs on.
type Provider interface {
	// Name is the registry name, e.g. "aws" or "local".
	Name() string
	// Preflight checks credentials, region, type and image. It has no side
	// effects and costs nothing; a refusal here means nothing was created.
	// The cycle has already refused, before calling it, any candidate
	// whose type (resolved through Defaulter or Info.DefaultType)
	// the KVM catalog knows lacks KVM, unless the lane is no-kvm
	// (CheckKVM): an adapter need not repeat that check, though it may.
	Preflight(ctx context.Context, req Request) error
	// Create provisions the host for req.Candidate. Every resource is passed to
	// j.Record the moment its id exists, before anything else needs it.
	Create(ctx context.Context, req Request, j Journal) (*Host, error)
	// Destroy deletes everything tagged with the identity's run and key, found
	// by tag or name lookup (not from the journal). It is idempotent: a
	// resource that is already gone counts as deleted.
	Destroy(ctx context.Context, id Identity) (Report, error)
	// List returns the resources matching f: used by the leak check after
	// teardown (and, once built, by the janitor DESIGN plans).
	List(ctx context.Context, f Filter) ([]Resource, error)
}

// Request is everything a provider needs to create one host.
type Request struct {
	Identity  Identity
	Candidate Candidate
	// Lane is "kvm" (the default: a type known to lack KVM is refused) or
	// "no-kvm" (verification runs without KVM and KVM steps read n/a).
	Lane   string
	DiskGB int
	// Image overrides the provider's default image; empty means default.
	Image string
	// User is the suite's remote user, the one the cycle logs in as.
	User string
	// UserData is the rendered #cloud-config. It holds the host's private key:
	// never log it.
	UserData []byte
	// ClientAuthorizedKey is the run's client public key in authorized_keys
	// form ("ssh-ed25519 AAAA...").
	ClientAuthorizedKey string
	// HostKeyPEM is the run's ed25519 host private key (OpenSSH PEM) for
	// providers that configure sshd themselves (local); cloud providers pass it
	// through UserData instead. Never log it.
	HostKeyPEM []byte
	// HostKey is the same host key's public half in authorized_keys form;
	// providers that boot from UserData copy it to Host.HostKey.
	HostKey string
	// SSHSourceCIDR is the only source allowed to reach tcp/22 ("a.b.c.d/32").
	SSHSourceCIDR string
	// TTL is how long the host may live before it destroys itself.
	TTL time.Duration
	// ReadyMarker is the file cloud-init's last runcmd touches; the cycle
	// waits for it. Providers that boot from UserData copy it to Host.
	ReadyMarker string
	// Tried, when set, receives each placement a Create call tried and gave
	// up on before its own result (a zone without capacity, say), with the
	// candidate as resolved: zone and type filled in. CreateWithFallback
	// sets it so the summary lists every attempt, not one per candidate.
	// A placement is reported only once what was launched there is gone
	// (or nothing was): the summary says so (AttemptNextPlacement).
	Tried func(Attempt)
}

// Candidate is one place a host may be created; candidates are tried in order.
type Candidate struct {
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
	Zone   string `json:"zone,omitempty" yaml:"zone,omitempty"`
	Type   string `json:"type,omitempty" yaml:"type,omitempty"`
	// Market is "on-demand" (default) or "spot".
	Market string `json:"market,omitempty" yaml:"market,omitempty"`
}

// Host is what the cycle needs to reach a created host over SSH.
type Host struct {
	Address string // IP or name
	Port    int    // 22 unless the provider says otherwise
	// User to log in as; empty means Request.User.
	User string
	// HostKey is the authorized_keys form of the key the host must present.
	// Empty only when the user explicitly asked for insecure-host-key.
	HostKey string
	// PrivateKeyPEM, when set, replaces the run's client key (bring-your-own
	// hosts). Never log it.
	PrivateKeyPEM []byte
	// ID, Type, Region and Zone describe the host for the summary.
	ID     string
	Type   string
	Region string
	Zone   string
	// PricePerHour in USD, 0 when unknown or free.
	PricePerHour float64
	// ReadyMarker, when set, is a file that must exist before the host is
	// ready (written last by cloud-init). Empty for hosts we did not boot
	// (ssh, local): they are ready once SSH answers.
	ReadyMarker string
	// CloudInit is true when the host was booted with our user data, so the
	// ready phase also checks that cloud-init did not report an error.
	CloudInit bool
	// WorkDir, when set, is where the cycle keeps its files on the host
	// (the uploaded probe binary), and Destroy removes it. A provider whose
	// host outlives the run but which reaches it without SSH (local) sets
	// it, so the files go even when the cycle could not remove them over
	// SSH (a signal, a stopped sshd, `down` from another process). Empty:
	// the cycle picks a directory and removes it over SSH.
	WorkDir string
	// Outlives is set by a provider whose host stays after Destroy
	// although the provider made it ready (local: this machine). The cycle
	// then undoes over SSH what it wrote there outside WorkDir (the
	// suite's uploads), as it does on a host the provider did not create.
	Outlives bool
	// Uname, when the provider knows it without asking the host, is what
	// `uname -sm` prints there ("Linux x86_64"): local's host is this
	// machine. Empty: the cycle asks the host before uploading the probe.
	Uname string
}

// Resource is one thing a provider created (instance, volume, firewall, key…).
type Resource struct {
	Provider  string            `json:"provider"`
	Kind      string            `json:"kind"`
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	Region    string            `json:"region,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
	CreatedAt time.Time         `json:"created_at,omitzero"`
	ExpiresAt time.Time         `json:"expires_at,omitzero"`
}

// Journal records resources as they are created so a cancelled run can tell
// what it made. Destroy must not depend on it.
type Journal interface {
	Record(Resource)
}

// Report says what Destroy deleted.
type Report struct {
	Deleted []Resource `json:"deleted,omitempty"`
	Notes   []string   `json:"notes,omitempty"`
	// Deferred is set when the context's deadline came before every delete
	// was confirmed: the deletes were issued, but a later Destroy (the
	// action's post step) must sweep again, and a leak check now would see
	// what is still going. Not an error: Notes say what is unconfirmed.
	Deferred bool `json:"deferred,omitempty"`
}

// Filter selects resources for List. Empty fields match everything of ours
// (every resource tagged mvm-verify=1).
type Filter struct {
	Run string // "<run id>-<attempt>"
	Key string // matrix key
	Leg string // the leg's random id (Identity.Leg)
	// ExpiredBefore, when set, keeps only resources whose expires-at is before it.
	ExpiredBefore time.Time
}

// Info describes a provider for `mvm-verify providers` and for preflight.
type Info struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Creates is false for providers that use an existing host (ssh).
	Creates bool `json:"creates"`
	// Billed is true for providers whose hosts cost money (the clouds): their
	// candidates are checked against max-cost and their firewall admits the
	// runner's address only.
	Billed bool `json:"billed,omitempty"`
	// DefaultType is the instance type used when a candidate names none.
	DefaultType string `json:"default_type,omitempty"`
	// Lanes lists the lanes the provider can run: "kvm", "no-kvm". A
	// provider whose offer depends on the machine it runs on also
	// implements LaneOfferer.
	Lanes []string `json:"lanes"`
	// Inputs names the provider-specific action inputs it reads.
	Inputs []string `json:"inputs,omitempty"`
	// Credentials says in one line what it needs, in the seed's Notes wording.
	Credentials string `json:"credentials,omitempty"`
}

// LaneOfferer is implemented by a provider whose lanes depend on the
// machine at hand (local: this one, with or without usable KVM). Lane auto
// is resolved from OfferedLanes instead of Info.Lanes.
type LaneOfferer interface {
	OfferedLanes() []string
}

// OfferedLanes is what p can run now: its own answer when it is a
// LaneOfferer, else the lanes of its Info.
func OfferedLanes(p Provider, info Info) []string {
	if lo, ok := p.(LaneOfferer); ok {
		return lo.OfferedLanes()
	}
	return info.Lanes
}

// Resolver is implemented by a provider with an input whose default
// depends on where it runs (local's state directory under TMPDIR): it says
// what it resolved, so a `down` run elsewhere finds the same resources.
type Resolver interface {
	ResolvedInputs() map[string]string
}
