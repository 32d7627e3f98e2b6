// Package waits holds the one way this program waits: for a duration or
// until its context ends, whichever is first.
package waits

import (
	"context"
	"time"
)

// Sleep waits d, or returns ctx's error as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
