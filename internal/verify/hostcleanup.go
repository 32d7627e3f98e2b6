package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// HostCleanup undoes one change the cycle made on the host over SSH (the
// suite's user it created, the probe binary's directory). It is data, not
// a closure, so a kept host's cleanups can be saved by `up` and run by
// `down` from another process.
type HostCleanup struct {
	Name string `json:"name"`
	// If, when set, runs first as the login user, and the cleanup is done
	// only when it exits 0: the change may never have been made.
	If string `json:"if,omitempty"`
	// Command runs as AsUser (the login user when empty).
	Command string `json:"command"`
	AsUser  string `json:"as_user,omitempty"`
}

// hostCleanupTimeout bounds each command of a host cleanup.
const hostCleanupTimeout = time.Minute

// Run does the cleanup on the host c is connected to.
func (h HostCleanup) Run(ctx context.Context, c *remote.Client) error {
	if h.If != "" {
		res, err := c.Run(ctx, remote.RunSpec{Command: h.If, NoProfile: true, Timeout: hostCleanupTimeout})
		if err != nil {
			return err
		}
		if !res.OK() {
			return nil
		}
	}
	res, err := c.Run(ctx, remote.RunSpec{Command: h.Command, AsUser: h.AsUser, NoProfile: true, Timeout: hostCleanupTimeout})
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("exited %d: %s", res.ExitCode, strings.TrimSpace(string(res.Output)))
	}
	return nil
}

// UndoOnHost runs a kept host's cleanups, last recorded first, even when
// one fails, and returns their errors joined.
func UndoOnHost(ctx context.Context, c *remote.Client, cleanups []HostCleanup) error {
	var errs []error
	for i := len(cleanups) - 1; i >= 0; i-- {
		if err := cleanups[i].Run(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cleanups[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

// HostJournal receives the host-side cleanups still to be done each time
// that set changes: one is pushed, or the teardown has done one. The CLI
// saves them to the action state, so the post step can do them when main
// is killed before its teardown; on a host we did not create nothing else
// would.
type HostJournal interface {
	PendingHostCleanups(host HostInfo, pending []HostCleanup)
}

// pendingHostCleanup is a host-side cleanup not yet done, with an id to
// take it off the list by.
type pendingHostCleanup struct {
	id int
	h  HostCleanup
}

// pushHostCleanup pushes h onto the cleanup stack and records it for a
// kept host and in the plan's host journal. left names what stays on the
// host when the connection is lost.
func (c *cycle) pushHostCleanup(h HostCleanup, left string) {
	c.mu.Lock()
	c.hostCleanups = append(c.hostCleanups, h)
	c.hostSeq++
	id := c.hostSeq
	c.hostPending = append(c.hostPending, pendingHostCleanup{id: id, h: h})
	c.journalHostLocked()
	c.mu.Unlock()
	c.cleanups.pushHost(h.Name, func(ctx context.Context) error {
		if err := c.connectionLost(ctx); err != nil {
			return fmt.Errorf("%s left on the host: %w", left, err)
		}
		start := time.Now()
		err := h.Run(ctx, c.client)
		c.addRemote(time.Since(start))
		if err != nil {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, p := range c.hostPending {
			if p.id == id {
				c.hostPending = append(c.hostPending[:i:i], c.hostPending[i+1:]...)
				break
			}
		}
		c.journalHostLocked()
		return nil
	})
}

// journalHostLocked hands the pending host-side cleanups to the plan's
// host journal; c.mu is held.
func (c *cycle) journalHostLocked() {
	if c.plan.HostJournal == nil || c.res.Host == nil {
		return
	}
	pending := make([]HostCleanup, len(c.hostPending))
	for i, p := range c.hostPending {
		pending[i] = p.h
	}
	c.plan.HostJournal.PendingHostCleanups(*c.res.Host, pending)
}

// legMarkerVar is exported to every step of the suite with a token of the
// cycle's own, so the leg's processes, and whatever they started, can be
// found and killed on the host from another process (the post step).
const legMarkerVar = "MVM_VERIFY_LEG"

// killLegScript ends, as the user it runs as, every process whose
// environment carries legMarkerVar=token: TERM first, so that a shell
// holding a lock file (a login profile's rehash) can remove it, then KILL
// after at most a second (remote.KillMarkedScript).
func killLegScript(token string) string {
	return remote.KillMarkedScript(legMarkerVar, token)
}
