// Package waits holds the one way this program waits: for a duration or
// until its context ends, whichever is first.
package waits

import (
	"context"
	"time"
)

// Sleep waits d, or returns ctx's error as soon as ctx ends. A context
// that has already ended always wins, even over a wait short enough to be
// over at once: the caller's next round must not run after a cancel.
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
