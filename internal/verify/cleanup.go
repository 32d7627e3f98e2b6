package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
}

func (c *cleanups) push(name string, fn func(ctx context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stack = append(c.stack, cleanup{name: name, fn: fn})
}

// unwind runs every cleanup, last pushed first, even when earlier ones fail,
// and returns all their errors joined. It empties the stack so a second call
// does nothing.
func (c *cleanups) unwind(ctx context.Context, log *slog.Logger) error {
	c.mu.Lock()
	stack := c.stack
	c.stack = nil
	c.mu.Unlock()

	var errs []error
	for i := len(stack) - 1; i >= 0; i-- {
		cl := stack[i]
		log.Debug("cleanup", "name", cl.name)
		if err := cl.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cl.name, err))
		}
	}
	return errors.Join(errs...)
}
