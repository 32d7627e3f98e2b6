package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// cleanups is a stack of undo actions. A phase pushes its cleanup before it
// starts the work the cleanup undoes, so a phase that fails or is cancelled
// half-way is still undone; the stack unwinds in reverse order.
type cleanups struct {
	mu    sync.Mutex
	stack []cleanup
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

// unwind runs every cleanup, last pushed first, even when earlier ones fail,
// and returns all their errors joined. It empties the stack so a second call
// does nothing.
//
// hostBudget > 0 is the cancelled mode, used after a signal: the runner
// kills us seconds later, and what must not be lost is the provider's
// destroy (a billed host). The provider's cleanups then run first, in
// reverse order, with all of ctx; the host-side ones after them, each
// within hostBudget. Their errors are returned apart, in hostErr, for the
// caller to weigh: once the host is destroyed they are expected.
// skipHost (cancelled mode, on a host the provider created and has just
// destroyed) skips the host-side cleanups but the connection's close, and
// returns their names: they could only wait on a host that is gone.
// shareHost (cancelled mode, on a host the run did not create) gives each
// host-side cleanup the larger of hostBudget and its even share of the
// time ctx has left: there they are the whole teardown (the suite's user
// with passwordless sudo, its processes), and a second each is less than
// removing a user over SSH can take.
func (c *cleanups) unwind(ctx context.Context, log *slog.Logger, hostBudget time.Duration, skipHost, shareHost bool) (err, hostErr error, skipped []string) {
	c.mu.Lock()
	stack := c.stack
	c.stack = nil
	c.mu.Unlock()

	var errs, hostErrs []error
	run := func(cl cleanup, ctx context.Context) error {
		log.Debug("cleanup", "name", cl.name)
		if err := cl.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", cl.name, err)
		}
		return nil
	}
	if hostBudget <= 0 {
		for i := len(stack) - 1; i >= 0; i-- {
			if err := run(stack[i], ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...), nil, nil
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
			if skipHost && !stack[i].conn {
				skipped = append(skipped, stack[i].name)
				continue
			}
			budget := hostBudget
			if dl, ok := ctx.Deadline(); ok && shareHost && !stack[i].conn {
				budget = max(budget, time.Until(dl)/time.Duration(left))
				left--
			}
			hctx, cancel := context.WithTimeout(ctx, budget)
			if err := run(stack[i], hctx); err != nil {
				hostErrs = append(hostErrs, err)
			}
			cancel()
		}
	}
	return errors.Join(errs...), errors.Join(hostErrs...), skipped
}

// unwindHostFirst is the cancelled mode for a host that outlives the run
// (this machine, under local): nothing there is billed, and the changes
// made on it are not undone by its destroy, so the host-side cleanups run
// first, in reverse order, each within hostBudget, then the provider's.
func (c *cleanups) unwindHostFirst(ctx context.Context, log *slog.Logger, hostBudget time.Duration) (err, hostErr error) {
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
			cctx, cancel := ctx, context.CancelFunc(func() {})
			if onHost {
				cctx, cancel = context.WithTimeout(ctx, hostBudget)
			}
			if e := cl.fn(cctx); e != nil {
				e = fmt.Errorf("%s: %w", cl.name, e)
				if onHost {
					hostErrs = append(hostErrs, e)
				} else {
					errs = append(errs, e)
				}
			}
			cancel()
		}
	}
	return errors.Join(errs...), errors.Join(hostErrs...)
}
