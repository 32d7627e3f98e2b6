package verify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// minHostCleanup is the least time a host-side cleanup is started with
// after a signal: less cannot open a session on a remote host and hear
// back, and the cleanup stays pending for whoever undoes the run later
// (the post step).
const minHostCleanup = 100 * time.Millisecond

// cleanups is a stack of undo actions. A phase pushes its cleanup before it
// starts the work the cleanup undoes, so a phase that fails or is cancelled
// half-way is still undone; the stack unwinds in reverse order.
type cleanups struct {
	mu    sync.Mutex
	stack []cleanup
	// now is the clock the host-side cleanups' budgets are counted on
	// (time.Now when nil), and killGrace how long remote.Client.Run may
	// wait after a cleanup's ctx has ended for the command it kills
	// (remote.DefaultCancelGrace when zero): both set by tests.
	now       func() time.Time
	killGrace time.Duration
	// mask hides the run's secrets in what a panicking cleanup said
	// (nil: nothing to hide); the cycle sets it.
	mask func(string) string
	// late, when set, is closed by a signal during a normal-order unwind
	// on a host the provider's destroy removes: the host-side cleanups
	// left are skipped then, and the one running is ended, so the destroy
	// further down the stack gets what is left of the cut teardown.
	late <-chan struct{}
}

type cleanup struct {
	name string
	fn   func(ctx context.Context) error
	// onHost marks a cleanup done over the SSH connection (remove the probe
	// binary, the suite user): after a signal those come after the
	// provider's destroy and get a short budget each.
	onHost bool
	// conn marks the cleanup that closes the connection: it needs no
	// answer from the host, so it runs even when host-side cleanups are
	// skipped.
	conn bool
}

func (c *cleanups) push(name string, fn func(ctx context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stack = append(c.stack, cleanup{name: name, fn: fn})
}

// pushHost pushes a cleanup that works over the SSH connection.
func (c *cleanups) pushHost(name string, fn func(ctx context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stack = append(c.stack, cleanup{name: name, fn: fn, onHost: true})
}

// pushConn pushes the cleanup that closes the SSH connection: last of the
// host-side ones, and run even when they are skipped.
func (c *cleanups) pushConn(name string, fn func(ctx context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stack = append(c.stack, cleanup{name: name, fn: fn, onHost: true, conn: true})
}

// hostMode is what unwind's cancelled mode does with the host-side
// cleanups but the connection's close.
type hostMode int

const (
	// hostEach runs each within hostBudget.
	hostEach hostMode = iota
	// hostSkip skips them and returns their names, on a host the provider
	// created and has just destroyed: they could only wait on a host that
	// is gone.
	hostSkip
	// hostShare gives each the larger of hostBudget and its even share of
	// the time ctx has left, on a host the run did not create: there they
	// are the whole teardown (the suite's user with passwordless sudo, its
	// processes), and a second each is less than removing a user over SSH
	// can take.
	hostShare
)

// unwound is what an unwind did.
type unwound struct {
	// err joins the cleanups' errors; in the cancelled mode only the
	// provider's.
	err error
	// hostErr joins the host-side cleanups' errors in the cancelled mode.
	hostErr error
	// skipped names the host-side cleanups not run.
	skipped []string
}

// unwind runs every cleanup, last pushed first, even when earlier ones fail,
// and returns all their errors joined. It empties the stack so a second call
// does nothing.
//
// In the normal mode (hostBudget <= 0) with c.late set, the host-side
// cleanups but the connection's close stop at a signal during the unwind
// (see runUntilLate) and are returned in skipped.
//
// hostBudget > 0 is the cancelled mode, used after a signal: the runner
// kills us seconds later, and what must not be lost is the provider's
// destroy (a billed host). The provider's cleanups then run first, in
// reverse order, with all of ctx; the host-side ones after them, each
// within hostBudget. Their errors are returned apart, in hostErr, for the
// caller to weigh: once the host is destroyed they are expected. mode says
// what becomes of the host-side cleanups but the connection's close (see
// hostMode). Either way a host-side cleanup's budget is cut to end the kill
// grace before ctx's deadline (see hostContext), so one whose command hangs
// still ends in time.
func (c *cleanups) unwind(ctx context.Context, log *slog.Logger, hostBudget time.Duration, mode hostMode) unwound {
	c.mu.Lock()
	stack := c.stack
	c.stack = nil
	c.mu.Unlock()

	var errs, hostErrs []error
	var skipped []string
	run := func(cl cleanup, ctx context.Context) error {
		log.Debug("cleanup", "name", cl.name)
		if err := c.call(ctx, log, cl); err != nil {
			return fmt.Errorf("%s: %w", cl.name, err)
		}
		return nil
	}
	if hostBudget <= 0 {
		for i := len(stack) - 1; i >= 0; i-- {
			cl := stack[i]
			if c.late != nil && cl.onHost && !cl.conn {
				if c.runUntilLate(ctx, log, cl, &errs) {
					skipped = append(skipped, cl.name)
				}
				continue
			}
			if err := run(cl, ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return unwound{err: errors.Join(errs...), skipped: skipped}
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if !stack[i].onHost {
			if err := run(stack[i], ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	left := 0
	for _, cl := range stack {
		if cl.onHost && !cl.conn {
			left++
		}
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].onHost {
			if mode == hostSkip && !stack[i].conn {
				skipped = append(skipped, stack[i].name)
				continue
			}
			budget := hostBudget
			if dl, ok := ctx.Deadline(); ok && mode == hostShare && !stack[i].conn {
				budget = max(budget, dl.Sub(c.clock())/time.Duration(left))
				left--
			}
			log.Debug("cleanup", "name", stack[i].name)
			if err := c.runOnHost(ctx, log, stack[i], budget); err != nil {
				hostErrs = append(hostErrs, fmt.Errorf("%s: %w", stack[i].name, err))
			}
		}
	}
	return unwound{err: errors.Join(errs...), hostErr: errors.Join(hostErrs...), skipped: skipped}
}

// unwindHostFirst is the cancelled mode for a host that outlives the run
// (this machine, under local): nothing there is billed, and the changes
// made on it are not undone by its destroy, so the host-side cleanups run
// first, in reverse order, each within hostBudget (cut as in unwind, so
// that a hung one leaves the provider's their time), then the provider's.
func (c *cleanups) unwindHostFirst(ctx context.Context, log *slog.Logger, hostBudget time.Duration) unwound {
	c.mu.Lock()
	stack := c.stack
	c.stack = nil
	c.mu.Unlock()

	var errs, hostErrs []error
	for _, onHost := range []bool{true, false} {
		for i := len(stack) - 1; i >= 0; i-- {
			cl := stack[i]
			if cl.onHost != onHost {
				continue
			}
			log.Debug("cleanup", "name", cl.name)
			var e error
			if onHost {
				e = c.runOnHost(ctx, log, cl, hostBudget)
			} else {
				e = c.call(ctx, log, cl)
			}
			if e != nil {
				e = fmt.Errorf("%s: %w", cl.name, e)
				if onHost {
					hostErrs = append(hostErrs, e)
				} else {
					errs = append(errs, e)
				}
			}
		}
	}
	return unwound{err: errors.Join(errs...), hostErr: errors.Join(hostErrs...)}
}

// runOnHost runs a host-side cleanup after a signal within budget, cut
// to leave the kill grace before ctx's deadline (see hostContext).
func (c *cleanups) runOnHost(ctx context.Context, log *slog.Logger, cl cleanup, budget time.Duration) error {
	if cl.conn {
		// Closing the connection runs no command, so nothing is killed
		// after it, and it must run however little is left.
		hctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		return c.call(hctx, log, cl)
	}
	hctx, cancel, err := c.hostContext(ctx, budget)
	if err != nil {
		return err
	}
	defer cancel()
	return c.call(hctx, log, cl)
}

// runUntilLate runs a host-side cleanup of a normal-order unwind, unless
// the signal (c.late) has come, and ends it when the signal comes while it
// runs: each may take a minute, and a reconnect half a minute, which the
// destroy of the host they run on needs more after a signal. It reports
// whether the cleanup was skipped or ended so; any other error it adds to
// errs.
func (c *cleanups) runUntilLate(ctx context.Context, log *slog.Logger, cl cleanup, errs *[]error) (skipped bool) {
	select {
	case <-c.late:
		return true
	default:
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-c.late:
			cancel()
		case <-hctx.Done():
		}
	}()
	log.Debug("cleanup", "name", cl.name)
	err := c.call(hctx, log, cl)
	cancel()
	<-ended
	select {
	case <-c.late:
		if err != nil {
			// Ended by the signal (or failing after it, moot either
			// way): the destroy removes what it would have undone.
			return true
		}
	default:
	}
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", cl.name, err))
	}
	return false
}

// call runs the cleanup, a panic in it turned into its error: the
// cleanups after it (the provider's destroy) must still run. The stack
// goes to log, not into the error, which the summary shows; both are
// masked, as a panic's value may hold what the cleanup was given.
func (c *cleanups) call(ctx context.Context, log *slog.Logger, cl cleanup) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, stack := fmt.Sprint(r), string(debug.Stack())
			if c.mask != nil {
				msg, stack = c.mask(msg), c.mask(stack)
			}
			log.Error("internal error", "in", "cleanup "+cl.name, "panic", msg, "stack", stack)
			err = fmt.Errorf("internal error: %s", msg)
		}
	}()
	return cl.fn(ctx)
}

func (c *cleanups) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// hostContext is the context a host-side cleanup runs in after a signal:
// budget from now, cut so that it ends the kill grace before ctx's
// deadline. When a cleanup's context ends, remote.Client.Run kills its
// command and waits up to that grace for the host to report the end,
// whatever ctx's deadline: without the cut a hung command (one ignoring
// TERM, in D-state, or a child holding its output) given all that is
// left would end the grace past the deadline, and past the leak check's
// and the runner's. The error says there is too little left to start
// one; the cleanup is then not run.
func (c *cleanups) hostContext(ctx context.Context, budget time.Duration) (context.Context, context.CancelFunc, error) {
	now := c.clock()
	if dl, ok := ctx.Deadline(); ok {
		grace := cmp.Or(c.killGrace, remote.DefaultCancelGrace)
		room := dl.Sub(now) - grace
		if room < minHostCleanup {
			return nil, nil, fmt.Errorf("not run: %s left before the teardown's deadline, and a command killed at its end may take %s more to stop",
				max(dl.Sub(now), 0).Round(time.Millisecond), grace)
		}
		budget = min(budget, room)
	}
	hctx, cancel := context.WithDeadline(ctx, now.Add(budget))
	return hctx, cancel, nil
}
