package verify

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// stepClock is a clock that moves only when a test moves it.
type stepClock struct{ t time.Time }

func (c *stepClock) now() time.Time { return c.t }

// hang moves the clock on by the longest a host-side cleanup can take
// through remote.Client.Run: its command does not end (it ignores TERM,
// sits in D-state, or a child holds its output while the host still
// answers), so it runs until its ctx ends, and then Run waits the whole
// kill grace.
func (c *stepClock) hang(ctx context.Context, grace time.Duration) {
	dl, _ := ctx.Deadline()
	c.t = dl.Add(grace)
}

// After a signal on a host the run did not create (ssh), a host-side
// cleanup whose command hangs must still be over by the teardown's
// deadline, kill grace included: each cleanup's context ends the grace
// before that deadline, and one there is no longer room for is not
// started (it stays pending for the post step) rather than started to
// overrun it. The times are those of the Actions cancel budget: 7 s, all
// of it the host-side cleanups' on a provider that creates nothing (no
// share is kept for a leak check with nothing to list).
func TestCleanupsCancelledShareLeavesKillGrace(t *testing.T) {
	const grace = 2 * time.Second
	hosts := []string{"remove suite user", "remove probe binary", "stop the suite's processes"} // in push order
	for _, tc := range []struct {
		name    string
		hangs   map[string]bool
		started []string // the host-side cleanups that must have run
	}{
		// The last one gets all that is left but the grace.
		{"the last hangs", map[string]bool{"remove suite user": true}, hosts},
		{"all hang", map[string]bool{"remove suite user": true, "remove probe binary": true, "stop the suite's processes": true},
			[]string{"stop the suite's processes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &stepClock{t: time.Now()}
			c := cleanups{now: clock.now, killGrace: grace}
			deadlines := map[string]time.Time{}
			closed := false
			c.pushConn("close ssh", func(context.Context) error { closed = true; return nil })
			for _, name := range hosts {
				c.pushHost(name, func(ctx context.Context) error {
					deadlines[name], _ = ctx.Deadline()
					if tc.hangs[name] {
						clock.hang(ctx, grace)
						return ctx.Err()
					}
					return nil
				})
			}
			start := clock.t
			dl := start.Add(7 * time.Second)
			ctx, cancel := context.WithDeadline(context.Background(), dl)
			defer cancel()
			hostErr := c.unwind(ctx, slog.New(slog.DiscardHandler), hostCleanupBudget, hostShare).hostErr

			for name, cdl := range deadlines {
				if end := cdl.Add(grace); end.After(dl) {
					t.Errorf("%s: its context ends %s after the teardown's start; with the kill grace %s it may run %s past the teardown's deadline",
						name, cdl.Sub(start), grace, end.Sub(dl))
				}
			}
			if clock.t.After(dl) {
				t.Errorf("the host-side cleanups took until %s after the teardown's start, past its deadline %s", clock.t.Sub(start), dl.Sub(start))
			}
			for _, name := range tc.started {
				if _, ok := deadlines[name]; !ok {
					t.Errorf("%s not run; host err %v", name, hostErr)
				}
			}
			for _, name := range hosts {
				if _, ok := deadlines[name]; !ok && (hostErr == nil || !strings.Contains(hostErr.Error(), name+": not run")) {
					t.Errorf("%s neither run nor reported not run: host err %v", name, hostErr)
				}
			}
			if last, ok := deadlines["remove suite user"]; ok && !tc.hangs["stop the suite's processes"] && !last.Equal(dl.Add(-grace)) {
				t.Errorf("the last host cleanup's context ends %s before the teardown's deadline, want the kill grace %s before it",
					dl.Sub(last), grace)
			}
			if !closed {
				t.Error("the connection was not closed")
			}
		})
	}
}

// Under local (a host that outlives the run) the host-side cleanups come
// before the provider's: a hung one must leave the provider's theirs. Each
// gets hostBudget at most, and only while it and the kill grace after it
// end before the teardown's deadline.
func TestCleanupsHostFirstHungCleanupLeavesProviderTime(t *testing.T) {
	const grace = 2 * time.Second
	clock := &stepClock{t: time.Now()}
	c := cleanups{now: clock.now, killGrace: grace}
	var providerAt time.Time
	ran := map[string]bool{}
	c.push("stop the leg's sshd", func(context.Context) error { providerAt = clock.t; return nil })
	c.pushConn("close ssh", func(context.Context) error { ran["close ssh"] = true; return nil })
	for _, name := range []string{"undo upload a", "undo upload b"} {
		c.pushHost(name, func(ctx context.Context) error {
			ran[name] = true
			clock.hang(ctx, grace)
			return ctx.Err()
		})
	}
	start := clock.t
	dl := start.Add(5 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), dl)
	defer cancel()
	u := c.unwindHostFirst(ctx, slog.New(slog.DiscardHandler), hostCleanupBudget)
	err, hostErr := u.err, u.hostErr
	if err != nil {
		t.Errorf("err %v, want none from the provider's cleanup", err)
	}
	if !ran["undo upload b"] || !ran["close ssh"] {
		t.Errorf("ran %v, want the last pushed host cleanup and the connection's close", ran)
	}
	if ran["undo upload a"] || hostErr == nil || !strings.Contains(hostErr.Error(), "undo upload a: not run") {
		t.Errorf("ran %v, host err %v; want the second hung cleanup not started, for lack of room before the deadline", ran, hostErr)
	}
	if providerAt.IsZero() || providerAt.After(dl) {
		t.Errorf("the provider's cleanup started %s after the teardown's start, deadline %s", providerAt.Sub(start), dl.Sub(start))
	}
}
