package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
)

// teardown unwinds the cleanups (destroying by tag) and then checks that
// nothing tagged with the run is left. After a signal the provider's
// destroy goes first and the host-side cleanups get a second each: on a
// provider that creates its hosts they are moot once the host is gone, so
// their failures are noted, not counted. On a host the run did not create
// (ssh) they are all the teardown there is, and share what is left of the
// budget, a second each at least.
func (c *cycle) teardown(ctx context.Context) error {
	var hostBudget time.Duration
	mode := hostEach
	uctx := ctx
	if c.cancelled {
		hostBudget = hostCleanupBudget
		// A host we created is gone once destroyed: cleaning up on it
		// could only time out. On one we did not create the host-side
		// cleanups are the whole teardown.
		mode = hostShare
		if c.plan.Info.Creates {
			mode = hostSkip
		}
		// Keep a slice of the cancel budget for the leak check, by the
		// rule the CLI's post and down follow too: the destroy sees the
		// earlier deadline and hands what it cannot confirm in time to
		// whoever sweeps later. A provider that creates nothing (ssh)
		// tags nothing, so its leak check has nothing to list: there the
		// host-side cleanups are the whole teardown (the suite's user
		// with passwordless sudo among them), and a slice kept from them
		// would only go unused while a slow host's removal of that user
		// runs out of time.
		if c.plan.Info.Creates {
			var cancel context.CancelFunc
			uctx, cancel = providers.ReserveLeakCheck(ctx, c.plan.Provider, c.plan.Identity)
			defer cancel()
		}
	}
	var u unwound
	outlives := c.host != nil && c.host.Outlives
	if !c.cancelled && c.plan.Info.Creates && !outlives {
		// A signal during this unwind, whose host-side cleanups come
		// before the destroy, stops them as hostSkip would have: they
		// could use up the cut teardown, and the destroy removes the
		// host with whatever they would have undone.
		c.cleanups.late = c.lateSignal
	}
	if c.cancelled && outlives {
		u = c.cleanups.unwindHostFirst(uctx, c.plan.log(), hostBudget)
	} else {
		u = c.cleanups.unwind(uctx, c.plan.log(), hostBudget, mode)
	}
	err, hostErr, skipped := u.err, u.hostErr, u.skipped
	if len(skipped) > 0 && !c.cancelled {
		fmt.Fprintf(c.out, "   stopped by the signal, for the destroy that removes the host: %s\n", strings.Join(skipped, ", "))
	} else if len(skipped) > 0 {
		fmt.Fprintf(c.out, "   skipped on the destroyed host: %s\n", strings.Join(skipped, ", "))
	}
	if hostErr != nil {
		if c.plan.Info.Creates && !outlives {
			fmt.Fprintf(c.out, "   after destroying the host: %s\n", describe(ctx, hostErr))
		} else {
			err = errors.Join(err, hostErr)
		}
	}
	if c.res.Phase(PhaseProvision) == nil {
		return err
	}
	c.mu.Lock()
	deferred := c.res.TeardownDeferred
	c.mu.Unlock()
	if deferred {
		// What is still being deleted would read as a leak.
		fmt.Fprintf(c.out, "   leak check not run: the deletes were issued but not all confirmed in time; %s\n", c.laterSweep())
		return err
	}
	lctx := ctx
	if dl, ok := ctx.Deadline(); ok && c.signalled() {
		// End before the phase's own deadline, so running out of time
		// reads as deferred rather than as a failed teardown.
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(ctx, dl.Add(-leakCheckMargin))
		defer cancel()
	}
	leaks, lerr := providers.LeakCheck(lctx, c.plan.Provider, c.plan.Identity)
	if errors.Is(lerr, providers.ErrLeakCheckUnconfirmed) {
		// Nothing listed, but not for long enough to trust it in a run
		// this young: like a deferred destroy, the run is not marked
		// torn down, so the post step sweeps and checks again.
		c.mu.Lock()
		c.res.TeardownDeferred = true
		c.mu.Unlock()
		fmt.Fprintf(c.out, "   %s; %s\n", providers.Message(lerr), c.laterSweep())
		return err
	}
	if lerr != nil && c.signalled() && lctx.Err() != nil {
		c.mu.Lock()
		c.res.TeardownDeferred = true
		c.mu.Unlock()
		fmt.Fprintf(c.out, "   leak check not finished: out of time after the signal; %s\n", c.laterSweep())
		return err
	}
	if lerr != nil {
		return errors.Join(err, fmt.Errorf("leak check: %w", lerr))
	}
	if len(leaks) > 0 {
		c.mu.Lock()
		c.res.Leaks = leaks
		c.mu.Unlock()
		var ids []string
		for _, l := range leaks {
			ids = append(ids, l.Kind+" "+l.ID)
		}
		return errors.Join(err, fmt.Errorf("leak check: still present after teardown: %s", strings.Join(ids, ", ")))
	}
	return err
}
