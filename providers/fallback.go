package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// Attempt is one Create call on one candidate, for the summary.
type Attempt struct {
	Candidate Candidate `json:"candidate"`
	// OK is true for the attempt that produced the host.
	OK bool `json:"ok"`
	// Class, Code and Error describe a failed attempt.
	Class    Class         `json:"class"`
	Code     string        `json:"code,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
	// CleanedUp is true when the partial attempt was destroyed before the
	// next candidate was tried.
	CleanedUp bool `json:"cleaned_up,omitempty"`
	// Aftermath says what became of a failed attempt, so the summary can
	// say whether it may have left something behind; empty for the
	// attempt that produced the host.
	Aftermath Aftermath `json:"aftermath,omitempty"`
	// CleanupError is why destroying the partial attempt failed
	// (Aftermath AttemptNotDeleted).
	CleanupError string `json:"cleanup_error,omitempty"`
}

// Aftermath is what became of a failed attempt.
type Aftermath string

const (
	// AttemptDeleted: the partial attempt was destroyed by the identity's
	// tags before the next candidate was tried.
	AttemptDeleted Aftermath = "deleted"
	// AttemptNotDeleted: destroying the partial attempt failed
	// (CleanupError); no further candidate was tried, and the cycle's
	// teardown destroys by tag again.
	AttemptNotDeleted Aftermath = "not-deleted"
	// AttemptRetried: a transient failure, tried again on the same
	// candidate; what it created carries the run's tags, so the teardown
	// finds it.
	AttemptRetried Aftermath = "retried"
	// AttemptNextPlacement: a placement the provider gave up on inside one
	// Create (Request.Tried), having removed what it launched there,
	// before trying the next zone of the same candidate.
	AttemptNextPlacement Aftermath = "next-placement"
	// AttemptLeftToTeardown: the loop stopped at this attempt (auth,
	// invalid, unknown, or cancelled); nothing was destroyed here, the
	// cycle's teardown destroys by tag.
	AttemptLeftToTeardown Aftermath = "left-to-teardown"
)

// FallbackOptions tunes CreateWithFallback. The zero value uses the
// production defaults.
type FallbackOptions struct {
	// Backoff is the wait before retry number attempt (0-based) of a
	// transient failure on the same candidate. Default: 1s doubling to 30s,
	// with jitter.
	Backoff func(attempt int) time.Duration
	// MaxTransient is how many times a transient failure is retried on the
	// same candidate before moving on. Default 4; negative means never.
	MaxTransient int
	// Sleep waits d or until ctx ends. Default: a timer.
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

func (o FallbackOptions) withDefaults() FallbackOptions {
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.MaxTransient == 0 {
		o.MaxTransient = 4
	}
	if o.Sleep == nil {
		o.Sleep = waits.Sleep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// DefaultBackoff is 1s, 2s, 4s… capped at 30s, each with up to 25% jitter so
// concurrent legs hitting the same throttle spread out.
func DefaultBackoff(attempt int) time.Duration {
	d := 30 * time.Second
	if attempt < 5 {
		d = time.Second << attempt
	}
	return d + rand.N(d/4+1)
}

// CreateWithFallback tries the candidates in order until one yields a host.
//
//   - capacity or quota: the partial attempt is destroyed (by the identity's
//     tags, like any teardown) and the next candidate is tried; when that
//     destroy fails, the loop stops there with an error naming the
//     candidate and the failed cleanup, so a cleanup that cannot work
//     does not leave a partial attempt behind per candidate;
//   - transient: the same candidate is retried after a backoff, up to
//     MaxTransient times, then treated like capacity;
//   - auth, invalid or unknown: stop and return the provider's error; what
//     the attempt left behind is for the caller's teardown.
//
// Every Create call is returned as an Attempt, also on success, preceded by
// the placements it reported through Request.Tried; each names the
// candidate as resolved (default type, the zone actually tried).
func CreateWithFallback(ctx context.Context, p Provider, req Request, cands []Candidate, j Journal, o FallbackOptions) (*Host, []Attempt, error) {
	o = o.withDefaults()
	j = OrDiscard(j)
	if len(cands) == 0 {
		return nil, nil, Classified(ClassInvalid, "", errors.New("no candidates to create a host on"))
	}
	var attempts []Attempt
	var failures []string
	lastClass := ClassUnknown
	for _, c := range cands {
		for try := 0; ; try++ {
			if err := ctx.Err(); err != nil {
				return nil, attempts, fmt.Errorf("create host: %w", err)
			}
			r := req
			r.Candidate = c
			// Placements the provider tried inside this one Create (zone
			// after zone) are attempts of their own in the summary.
			var tried []Attempt
			var triedTime time.Duration
			r.Tried = func(a Attempt) {
				tried = append(tried, a)
				triedTime += a.Duration
			}
			start := time.Now()
			h, err := p.Create(ctx, r, j)
			for i := range tried {
				if tried[i].Aftermath == "" {
					tried[i].Aftermath = AttemptNextPlacement
				}
			}
			attempts = append(attempts, tried...)
			a := Attempt{Candidate: Resolve(p, c), Duration: time.Since(start) - triedTime}
			if err == nil {
				a.OK = true
				if h != nil {
					a.Candidate = placedOn(a.Candidate, h)
				}
				attempts = append(attempts, a)
				return h, attempts, nil
			}
			if where, ok := WhereOf(err); ok {
				a.Candidate = where
			}
			a.Class, a.Code, a.Error = ClassOf(err), codeOf(err), Message(err) // the class is a.Class
			lastClass = a.Class
			log := o.Logger.With("candidate", c.String(), "class", a.Class.String(), "code", a.Code)
			if ctx.Err() != nil {
				a.Aftermath = AttemptLeftToTeardown
				attempts = append(attempts, a)
				return nil, attempts, fmt.Errorf("create host on %s: %w", c, err)
			}
			if a.Class == ClassTransient && try < o.MaxTransient {
				d := o.Backoff(try)
				log.Info("transient failure, retrying the same candidate", "retry", try+1, "backoff", d)
				if err := o.Sleep(ctx, d); err != nil {
					// The context ended during the backoff: no retry
					// happens, and what the attempt made is the
					// teardown's to find by tag.
					a.Aftermath = AttemptLeftToTeardown
					attempts = append(attempts, a)
					return nil, attempts, fmt.Errorf("create host: %w", err)
				}
				a.Aftermath = AttemptRetried
				attempts = append(attempts, a)
				continue
			}
			switch a.Class {
			case ClassCapacity, ClassQuota, ClassTransient:
				if _, derr := p.Destroy(ctx, req.Identity); derr != nil {
					// Whatever kept this cleanup from working (deletes
					// denied, say) would keep the next candidate's from
					// working too, each perhaps in another region: stop
					// rather than leave one partial attempt behind per
					// candidate. The caller's teardown destroys again.
					a.Aftermath, a.CleanupError = AttemptNotDeleted, Message(derr)
					attempts = append(attempts, a)
					log.Warn("could not clean up the failed attempt; not trying further candidates", "err", derr)
					return nil, attempts, notCleared(c, err, derr)
				}
				a.CleanedUp, a.Aftermath = true, AttemptDeleted
				attempts = append(attempts, a)
				failures = append(failures, c.String()+": "+a.Error)
				log.Info("candidate failed, trying the next one")
			default:
				a.Aftermath = AttemptLeftToTeardown
				attempts = append(attempts, a)
				return nil, attempts, fmt.Errorf("create host on %s: %w", c, err)
			}
			break
		}
	}
	return nil, attempts, Classified(lastClass, "", fmt.Errorf("no candidate could be created (%d tried): %s",
		len(cands), strings.Join(failures, "; ")))
}

// notCleared is the error of a candidate that failed for capacity, quota
// or a transient cause and whose partial attempt could not be destroyed.
// It takes the class and code of the cleanup's failure, not of the
// create's, so no caller reads it as a reason to try elsewhere or again:
// a cleanup failure that itself reads as capacity, quota or transient is
// unknown.
func notCleared(c Candidate, created, cleanup error) error {
	class, code := ClassUnknown, ""
	var pe *Error
	if errors.As(cleanup, &pe) && pe.Class != ClassCapacity && pe.Class != ClassQuota && pe.Class != ClassTransient {
		class, code = pe.Class, pe.Code
	}
	return Classified(class, code, fmt.Errorf("create host on %s: %w; cleaning up that attempt failed, so no further candidate was tried: %w",
		c, created, cleanup))
}

// Defaulter is implemented by providers whose candidates' empty fields
// have defaults (the single region/instance-type inputs, the default type).
// Resolve fills them in, so the summary names the region and type asked
// for, and the cycle's KVM check judges the type that will be launched;
// without it, an empty type is judged as Info.DefaultType.
type Defaulter interface {
	DefaultCandidate() Candidate
}

// Resolve fills c's empty fields the way the provider will, so a summary
// row names the type and region actually asked for, and the cycle's KVM
// check judges the type that would be launched. A field the provider has
// no default for stays empty.
func Resolve(p Provider, c Candidate) Candidate {
	if d, ok := p.(Defaulter); ok {
		return c.Defaults(d.DefaultCandidate())
	}
	return c
}

// placedOn is c with where the host actually is.
func placedOn(c Candidate, h *Host) Candidate {
	if h.Region != "" {
		c.Region = h.Region
	}
	if h.Zone != "" {
		c.Zone = h.Zone
	}
	if h.Type != "" {
		c.Type = h.Type
	}
	return c
}

func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// MarshalText makes classes read as words in JSON (attempts in result.json).
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (c *Class) UnmarshalText(b []byte) error {
	for k := ClassUnknown; k <= ClassInvalid; k++ {
		if k.String() == string(b) {
			*c = k
			return nil
		}
	}
	return fmt.Errorf("unknown error class %q: expected capacity, quota, transient, auth, invalid or unknown", b)
}
