package ghreport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v93/github"
)

// Reasons the reporting stops talking to GitHub. None of them fails the
// verification: the caller degrades to the job summary and a notice.
var (
	// ErrReadOnly: the token may read but not write (fork PR, missing
	// permissions): GitHub's 403 "Resource not accessible by integration".
	ErrReadOnly = errors.New("token may not write here (403)")
	// ErrRateLimited: a rate limit would outlast the wait budget.
	ErrRateLimited = errors.New("rate limited beyond the wait budget")
	// ErrAuth: the token was refused.
	ErrAuth = errors.New("token refused (401 Bad credentials)")
)

// SecondaryRateLimitWait is how long a secondary rate limit without a
// Retry-After or reset time is waited out the first time in a reporting
// call: GitHub asks to wait at least a minute, and longer, growing
// exponentially, while it keeps refusing, so each further one in the same
// call waits twice the one before (at most maxSecondaryDoublings times),
// as far as the budget goes. A call that must get through one needs a
// budget at least this long (Config.FinalBudget).
const SecondaryRateLimitWait = time.Minute

// maxSecondaryDoublings caps the growth of header-less waits: 16 minutes.
const maxSecondaryDoublings = 4

// MinRateLimitWait is the least a rate limit is waited, whatever its headers
// say: Retry-After: 0 (or a reset time already past) would otherwise retry
// at once, a tight loop against a server that keeps refusing, bounded only
// by the caller's deadline. Each further rate limit in the same reporting
// call doubles this floor (up to maxFloorDoublings times), so retries slow
// down and the budget, not the deadline, ends them.
const MinRateLimitWait = time.Second

// maxFloorDoublings caps the floor's growth: 64 s.
const maxFloorDoublings = 6

// maxServerRetries bounds retries of 5xx and transport errors per call.
const maxServerRetries = 4

// errWriteAgain: a comment write failed in a way worth another try (a 5xx,
// a transport error, a rate limit now waited out). The write is not resent:
// its body was built from a read made before the wait, and other legs (or a
// newer push) may have written since, so resending it could put back what
// they replaced. The caller reads again, checks the PR's head and merges
// before it writes again.
var errWriteAgain = errors.New("comment write not applied; reading the comment again before the next write")

// call runs one API request, waiting out rate limits and retrying server
// errors while the wait budget lasts. what names the request for errors.
func (r *Reporter) call(ctx context.Context, what string, op func() (*github.Response, error)) error {
	return r.do(ctx, what, true, op)
}

// callWrite runs one comment write (create or update) once. A failure that
// another try could fix is waited out as call would, then returned as
// errWriteAgain instead of resending the same body.
func (r *Reporter) callWrite(ctx context.Context, what string, op func() (*github.Response, error)) error {
	return r.do(ctx, what, false, op)
}

func (r *Reporter) do(ctx context.Context, what string, resend bool, op func() (*github.Response, error)) error {
	serverRetries := 0
	b := budgetOf(ctx, r.cfg.Budget)
	for {
		resp, err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if errors.Is(err, errWriteTimedOut) {
			// Nothing to wait out: read again at once (sticky.go).
			return fmt.Errorf("%s: %w: %w", what, errWriteAgain, err)
		}
		var hr *http.Response
		if resp != nil {
			hr = resp.Response
		}
		wait, kind := r.classify(hr, err)
		switch kind {
		case kindReadOnly:
			return fmt.Errorf("%s: %w: %s", what, ErrReadOnly, errMessage(err))
		case kindAuth:
			return fmt.Errorf("%s: %w", what, ErrAuth)
		case kindRateLimit, kindBareRateLimit:
			wait = b.rateLimitWait(wait, kind == kindBareRateLimit)
			r.log.Info("GitHub rate limit", "request", what, "wait", wait)
			if !r.spend(ctx, b, wait) {
				return fmt.Errorf("%s: wait %s: %w", what, wait.Round(time.Second), ErrRateLimited)
			}
		case kindServer:
			serverRetries++
			if serverRetries > maxServerRetries {
				return fmt.Errorf("%s: %w", what, err)
			}
			wait = r.backoff(serverRetries)
			r.log.Info("GitHub request failed; retrying", "request", what, "error", err, "wait", wait)
			if !r.spend(ctx, b, wait) {
				return fmt.Errorf("%s: out of wait budget: %w", what, err)
			}
		default:
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := r.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !resend {
			return fmt.Errorf("%s: %w: %w", what, errWriteAgain, err)
		}
	}
}

type errKind int

const (
	kindOther errKind = iota
	kindReadOnly
	kindAuth
	kindRateLimit
	// kindBareRateLimit: a secondary rate limit that says neither how long
	// to wait nor when it resets.
	kindBareRateLimit
	kindServer
)

// classify decides what a failed request means and, for a rate limit, how
// long to wait. It reads the headers itself so the wait follows the injected
// clock, not the wall clock.
func (r *Reporter) classify(resp *http.Response, err error) (time.Duration, errKind) {
	if resp == nil {
		if unreachable(err) {
			// No connection at all (refused, no route, the name does not
			// resolve): not a rate limit nor a hiccup of a server that
			// answered, and retrying within a second or so rarely helps.
			// Fail at once; the leg's next report tries again.
			return 0, kindOther
		}
		// No response: a transport error, worth retrying like a 5xx.
		return 0, kindServer
	}
	code := resp.StatusCode
	switch {
	case code >= 500:
		return 0, kindServer
	case code == http.StatusUnauthorized:
		return 0, kindAuth
	case code != http.StatusForbidden && code != http.StatusTooManyRequests:
		return 0, kindOther
	}
	if wait, ok := r.rateLimitWait(resp.Header); ok {
		return wait, kindRateLimit
	}
	if code == http.StatusTooManyRequests || strings.Contains(strings.ToLower(errMessage(err)), "rate limit") {
		return SecondaryRateLimitWait, kindBareRateLimit
	}
	// Any other 403 ("Resource not accessible by integration" being the
	// usual one) means this token may not do this: asking again will not
	// help.
	return 0, kindReadOnly
}

// rateLimitWait reads Retry-After (seconds) or, with no requests left,
// x-ratelimit-reset (unix seconds).
func (r *Reporter) rateLimitWait(h http.Header) (time.Duration, bool) {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
	}
	if h.Get("X-Ratelimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			// A second of slack: the reset is rounded down to the second.
			return max(0, time.Unix(s, 0).Sub(r.now())) + time.Second, true
		}
	}
	return 0, false
}

// unreachable says whether err is a failure to reach the API at all: the
// name did not resolve or the connection was not made. A connection that
// broke after it was made is not: the request may have been served.
func unreachable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func errMessage(err error) string {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return er.Message
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return rl.Message
	}
	var ab *github.AbuseRateLimitError
	if errors.As(err, &ab) {
		return ab.Message
	}
	return err.Error()
}

// statusCode is the HTTP status of a failed call, 0 if there was none.
func statusCode(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// waitBudget is what one reporting call (Start, Update, Finish, Report) may
// still spend waiting on rate limits and retries. Each call gets its own, so
// a long rate limit at Start cannot leave Finish, whose row matters most,
// with nothing.
type waitBudget struct {
	mu   sync.Mutex
	left time.Duration
	// rateLimits counts the rate limits met so far, bare the ones of them
	// without a wait or reset time: each makes the next wait longer.
	rateLimits, bare int
}

// rateLimitWait is how long to wait for a rate limit whose headers ask for
// asked (a bare one asks for nothing): at least the floor, which doubles
// with every rate limit met in this call, and for a bare one GitHub's
// minute, doubled with every bare one met before.
func (b *waitBudget) rateLimitWait(asked time.Duration, bare bool) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rateLimits++
	if bare {
		b.bare++
		asked = SecondaryRateLimitWait << min(b.bare-1, maxSecondaryDoublings)
	}
	return max(asked, MinRateLimitWait<<min(b.rateLimits-1, maxFloorDoublings))
}

// budgetOf is ctx's wait budget, or a fresh one of d for a call made
// outside Start/Update/Finish/Report.
func budgetOf(ctx context.Context, d time.Duration) *waitBudget {
	if b, ok := ctx.Value(budgetKey{}).(*waitBudget); ok && b != nil {
		return b
	}
	return &waitBudget{left: d}
}

type budgetKey struct{}

// withBudget gives the calls made with ctx a fresh wait budget.
func (r *Reporter) withBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, budgetKey{}, &waitBudget{left: r.cfg.Budget})
}

// spend takes d from the wait budget b; false when the budget cannot cover
// it, or when ctx would end before the wait does.
func (r *Reporter) spend(ctx context.Context, b *waitBudget, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if d > b.left {
		b.left = 0
		return false
	}
	b.left -= d
	return true
}

// backoff is an exponential delay with jitter for the n-th retry (from 1).
func (r *Reporter) backoff(n int) time.Duration {
	base := time.Second << min(n-1, 5)
	return base/2 + r.jitter(base/2)
}

// jitter is a random duration in [0, d).
func (r *Reporter) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Duration(r.rand.Int64N(int64(d)))
}
