package providers

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Options is what a provider factory gets. Provider-specific settings come
// through Input by their action-input name (e.g. "ssh-host",
// "aws-endpoint"), so adapters do not depend on the CLI's types.
type Options struct {
	// Input returns the value of an action input / flag, "" when unset.
	Input func(name string) string
	// Getenv reads the environment (credentials); tests substitute it.
	Getenv func(key string) string
	Logger *slog.Logger
	// HTTPClient is used for provider APIs when set.
	HTTPClient *http.Client
	// PollInterval overrides the provider's production poll interval; 0 keeps it.
	PollInterval time.Duration
	// Candidates is the candidates input as the caller parsed and checked
	// it, in order. Create is given one at a time; an adapter whose Destroy
	// sweeps by region reads them all here, so a fresh post step finds a
	// host in any candidate's region.
	Candidates []Candidate
	// CandidateInput, when set, names the input a field of Candidates[i]
	// came from ("candidates[1].type", or "instance-type" when the single
	// input filled it), for errors: the list may hold entries the user did
	// not write (spot failover adds on-demand copies). Nil: candidates[i].field.
	CandidateInput func(i int, field string) string
	// Mask, when set, is given every secret a provider obtains while it
	// runs — credentials minted through OIDC/STS, identity tokens — so the
	// caller hides it from logs (::add-mask:: in Actions). Secrets that
	// came in as inputs or environment are the caller's own to mask.
	Mask func(secret string)
}

// MaskSecret passes s to Mask; empty strings and a nil Mask are ignored.
func (o Options) MaskSecret(s string) {
	if o.Mask != nil && s != "" {
		o.Mask(s)
	}
}

// In returns the input or "" when Input is nil.
func (o Options) In(name string) string {
	if o.Input == nil {
		return ""
	}
	return strings.TrimSpace(o.Input(name))
}

// Env returns the environment variable or "" when Getenv is nil.
func (o Options) Env(key string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(key)
}

// Log returns the logger, or a discarding one.
func (o Options) Log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Factory builds a provider from options. It validates provider-specific
// inputs and returns an error naming the input on bad ones; it must not call
// any API.
type Factory func(Options) (Provider, error)

// Entry is one registered provider.
type Entry struct {
	Info Info
	New  Factory
	// Check, when set, checks the provider's own inputs as New does, with
	// the same rules, and builds nothing: the configuration runs it at
	// load time, so a bad input is reported with every other one before
	// anything starts. Every refusal is an *InputError (several joined
	// with errors.Join).
	Check func(Options) error
}

// Registry maps provider names to factories. The CLI builds one; there is no
// global registry.
type Registry struct {
	entries map[string]Entry
}

// Register adds an entry; a second entry with the same name panics, since
// that is a programming error.
func (r *Registry) Register(e Entry) {
	if r.entries == nil {
		r.entries = map[string]Entry{}
	}
	if _, dup := r.entries[e.Info.Name]; dup {
		panic("providers: duplicate provider " + e.Info.Name)
	}
	r.entries[e.Info.Name] = e
}

// Get returns the entry for name, or an error listing the known names.
func (r *Registry) Get(name string) (Entry, error) {
	e, ok := r.entries[name]
	if !ok {
		return Entry{}, fmt.Errorf("unknown provider %q: expected one of %s", name, strings.Join(r.Names(), ", "))
	}
	return e, nil
}

// Check runs the input check of the provider name, if it has one; an
// unknown name is the caller's to refuse, so it passes here.
func (r *Registry) Check(name string, o Options) error {
	if e, ok := r.entries[name]; ok && e.Check != nil {
		return e.Check(o)
	}
	return nil
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Infos lists the registered providers' descriptions, sorted by name.
func (r *Registry) Infos() []Info {
	var out []Info
	for _, n := range r.Names() {
		out = append(out, r.entries[n].Info)
	}
	return out
}
