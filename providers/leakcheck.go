package providers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// leakListings is how many times LeakCheck lists before it reports what
// is still there: a cloud's listings lag behind its deletes, so a resource
// deleted a moment ago may still be listed once or twice.
const leakListings = 4

// leakQuietListings is how many listings in a row must come back empty
// before a young run (see Lagger) counts as clean: a poll apart, they
// outwait the listings' lag behind creates, as Destroy's sweeps do.
const leakQuietListings = 3

// defaultLeakInterval is the wait between listings for providers that do
// not say how often they poll.
const defaultLeakInterval = 2 * time.Second

// Poller is implemented by providers whose poll interval is configurable
// (Options.PollInterval); LeakCheck waits that long between listings, so
// tests that shorten the interval do not wait on a leak either.
type Poller interface {
	PollInterval() time.Duration
}

// Lagger is implemented by providers whose listings lag behind creates
// (EC2's describe-after-create): a resource created less than LagWindow
// ago may be missing from a listing, so one empty listing does not prove
// that a run that young left nothing.
type Lagger interface {
	LagWindow() time.Duration
}

// ErrLeakCheckUnconfirmed is returned, wrapped, by LeakCheck when a young
// run's listings came back empty but the deadline came before as many of
// them in a row as it takes to outwait the listings' lag behind creates:
// nothing was seen, but that does not prove nothing is left. Callers treat
// it like a deferred teardown (Report.Deferred): not torn down, someone
// sweeps again.
var ErrLeakCheckUnconfirmed = errors.New("leak check not confirmed")

// LeakCheck lists everything still tagged with the identity's run, key and
// leg (only this leg: a concurrent leg with the same key is not a leak).
// An empty result means teardown was complete; the caller fails the step
// naming every kind and id returned. While something is listed it lists
// again, a poll apart, up to leakListings times, so only what outlasts the
// listings' lag behind deletes is reported. For a run younger than the
// provider's lag window (or of unknown age) one empty listing is not
// enough: it takes leakQuietListings in a row, so a resource the listings
// do not show yet is still found. A wait that cannot end before ctx's
// deadline is not begun: what the last listing showed is the answer, and
// when that was empty but not yet confirmed by enough quiet listings, the
// error is ErrLeakCheckUnconfirmed.
func LeakCheck(ctx context.Context, p Provider, id Identity) ([]Resource, error) {
	interval, quietNeeded := leakPace(p, id)
	quiet := 0
	for n := 1; ; n++ {
		res, err := p.List(ctx, id.Filter())
		if err != nil {
			return nil, fmt.Errorf("leak check on %s: %w", p.Name(), err)
		}
		if len(res) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		// A young run's quiet listings come on top of the ones a leak is
		// given to go away.
		if quiet >= quietNeeded || n >= leakListings+quietNeeded-1 {
			return res, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < interval {
			return res, unconfirmed(p, res, quiet, quietNeeded)
		}
		if err := waits.Sleep(ctx, interval); err != nil {
			// Out of time: report what is still listed.
			return res, unconfirmed(p, res, quiet, quietNeeded)
		}
	}
}

// leakPace is how LeakCheck lists for id on p: the wait between listings,
// and how many empty ones in a row count as clean (more for a run young
// enough that the listings may not show what it created yet).
func leakPace(p Provider, id Identity) (interval time.Duration, quietNeeded int) {
	interval = defaultLeakInterval
	if pl, ok := p.(Poller); ok && pl.PollInterval() > 0 {
		interval = pl.PollInterval()
	}
	quietNeeded = 1
	if l, ok := p.(Lagger); ok && l.LagWindow() > 0 && (id.CreatedAt.IsZero() || time.Since(id.CreatedAt) < l.LagWindow()) {
		quietNeeded = leakQuietListings
	}
	return interval, quietNeeded
}

// LeakCheckShare is the least part of a teardown's time (1/LeakCheckShare
// of what is left when the deletes begin) kept from the deletes for the
// LeakCheck after them: see ReserveLeakCheck.
const LeakCheckShare = 4

// LeakCheckReserve is how much of left, the time a teardown has before its
// deadline, to keep from the deletes (Destroy, and the host-side cleanups
// before it) for the LeakCheck of id on p after them: 1/LeakCheckShare of
// it, or, when that is too short for the check to confirm an empty listing
// (a young run's quiet listings, a poll apart, plus a poll for the
// listings themselves), that long, as long as the deletes keep half. A
// check that would need more than half cannot be confirmed on a fair
// split: the deletes keep their share, and whatever they leave unused goes
// to the check too.
func LeakCheckReserve(p Provider, id Identity, left time.Duration) time.Duration {
	if left <= 0 {
		return 0
	}
	reserve := left / LeakCheckShare
	interval, quiet := leakPace(p, id)
	if need := time.Duration(quiet) * interval; need > reserve && need <= left/2 {
		reserve = need
	}
	return reserve
}

// ReserveLeakCheck returns ctx for the deletes of a teardown whose
// LeakCheck of id on p follows, with ctx's deadline brought forward by
// LeakCheckReserve: a Destroy that uses all the time it is given (its own
// quiet sweeps of a young run, a slow delete) still leaves the check
// enough to confirm that nothing is left, rather than an unconfirmed
// check failing a clean teardown. The check itself is given ctx. Without
// a deadline, ctx is returned as it is (with a cancel).
func ReserveLeakCheck(ctx context.Context, p Provider, id Identity) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-LeakCheckReserve(p, id, time.Until(dl))))
}

// unconfirmed is LeakCheck's error when it must stop early: none when
// something is still listed (that is the answer: a leak), else
// ErrLeakCheckUnconfirmed, since fewer empty listings than the run's age
// needs do not show that nothing is left.
func unconfirmed(p Provider, res []Resource, quiet, needed int) error {
	if len(res) > 0 || quiet >= needed {
		return nil
	}
	return fmt.Errorf("%w on %s: %d empty listing(s) before the deadline, of the %d in a row a run this young needs (listings lag behind creates)",
		ErrLeakCheckUnconfirmed, p.Name(), quiet, needed)
}
