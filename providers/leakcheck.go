package providers

import (
	"context"
	"fmt"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// leakListings is how many times LeakCheck lists before it reports what
// is still there: a cloud's listings lag behind its deletes, so a resource
// deleted a moment ago may still be listed once or twice.
const leakListings = 4

// defaultLeakInterval is the wait between listings for providers that do
// not say how often they poll.
const defaultLeakInterval = 2 * time.Second

// Poller is implemented by providers whose poll interval is configurable
// (Options.PollInterval); LeakCheck waits that long between listings, so
// tests that shorten the interval do not wait on a leak either.
type Poller interface {
	PollInterval() time.Duration
}

// LeakCheck lists everything still tagged with the identity's run, key and
// leg (only this leg: a concurrent leg with the same key is not a leak).
// An empty result means teardown was complete; the caller fails the step
// naming every kind and id returned. While something is listed it lists
// again, a poll apart, up to leakListings times, so only what outlasts the
// listings' lag is reported.
func LeakCheck(ctx context.Context, p Provider, id Identity) ([]Resource, error) {
	interval := defaultLeakInterval
	if pl, ok := p.(Poller); ok && pl.PollInterval() > 0 {
		interval = pl.PollInterval()
	}
	for n := 1; ; n++ {
		res, err := p.List(ctx, id.Filter())
		if err != nil {
			return nil, fmt.Errorf("leak check on %s: %w", p.Name(), err)
		}
		if len(res) == 0 || n >= leakListings {
			return res, nil
		}
		if err := waits.Sleep(ctx, interval); err != nil {
			return res, nil //nolint:nilerr // out of time: report what is still listed
		}
	}
}
