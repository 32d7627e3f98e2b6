package ghreport

import (
	"context"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// Clock is the time a Reporter measures and waits in: the ages and
// deadlines of the sticky comment protocol (sticky.go), rate-limit resets,
// and the waits for them. All three must be on one time base, or the
// protocol's guards misfire: a read's age measured on one clock against a
// quiet period waited on another. WallClock is the real one; tests run one
// faster than real time, or one that moves only when waited on.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or returns ctx's error once ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
	// WithTimeout is context.WithTimeout with d measured on the clock: the
	// context ends once d has passed on it. The requests it bounds run in
	// real time, so a clock faster than real time ends them sooner in
	// real time, by as much.
	WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc)
}

// WallClock is the real clock, Config.Clock's default.
type WallClock struct{}

// Now is time.Now.
func (WallClock) Now() time.Time { return time.Now() }

// Sleep waits on a timer (waits.Sleep).
func (WallClock) Sleep(ctx context.Context, d time.Duration) error { return waits.Sleep(ctx, d) }

// WithTimeout is context.WithTimeout.
func (WallClock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
