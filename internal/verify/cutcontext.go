package verify

import (
	"context"
	"sync"
	"time"
)

// cutContext is the teardown's context: it ends at its deadline, like one
// from context.WithDeadline, but the deadline can be brought forward once
// it is made. A signal during the teardown cuts it to the cancel budget,
// counted from the signal: the runner's SIGKILL follows about ten seconds
// after, and the teardown must end (and the result be written) before.
//
// Deadline reports the current deadline, not the one it was made with:
// the destroy already running when the signal comes asks for it before
// each wait (AWS's does), and hands what it cannot confirm by then to the
// post step instead of being killed mid-wait. Contexts derived from it end
// with it; their own deadlines are fixed when they are made.
type cutContext struct {
	context.Context // values only: WithoutCancel, so never done itself
	done            chan struct{}

	mu       sync.Mutex
	deadline time.Time
	timer    *time.Timer
	err      error
}

// withCutDeadline returns a context with parent's values that ends at
// deadline (or at cut's earlier one), and its cancel func.
func withCutDeadline(parent context.Context, deadline time.Time) (*cutContext, context.CancelFunc) {
	c := &cutContext{Context: context.WithoutCancel(parent), done: make(chan struct{}), deadline: deadline}
	c.mu.Lock()
	c.timer = time.AfterFunc(time.Until(deadline), func() { c.end(context.DeadlineExceeded) })
	c.mu.Unlock()
	return c, func() { c.end(context.Canceled) }
}

func (c *cutContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

func (c *cutContext) Done() <-chan struct{} { return c.done }

func (c *cutContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *cutContext) String() string { return "verify.cutContext" }

// end ends the context with err, once.
func (c *cutContext) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	c.timer.Stop()
	close(c.done)
}

// cut brings the deadline forward to d. A d no earlier than the current
// deadline, or a context already ended, changes nothing.
func (c *cutContext) cut(d time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || !d.Before(c.deadline) {
		return
	}
	c.deadline = d
	// A timer already firing for the old deadline ends the context too:
	// that deadline has passed, so the earlier one has as well.
	c.timer.Stop()
	c.timer = time.AfterFunc(time.Until(d), func() { c.end(context.DeadlineExceeded) })
}
