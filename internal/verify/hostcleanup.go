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
		res, err := c.Run(ctx, remote.RunSpec{Command: h.If, Timeout: hostCleanupTimeout})
		if err != nil {
			return err
		}
		if !res.OK() {
			return nil
		}
	}
	res, err := c.Run(ctx, remote.RunSpec{Command: h.Command, AsUser: h.AsUser, Timeout: hostCleanupTimeout})
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

// pushHostCleanup pushes h onto the cleanup stack and records it for a
// kept host. left names what stays on the host when the connection is lost.
func (c *cycle) pushHostCleanup(h HostCleanup, left string) {
	c.mu.Lock()
	c.hostCleanups = append(c.hostCleanups, h)
	c.mu.Unlock()
	c.cleanups.pushHost(h.Name, func(ctx context.Context) error {
		if err := c.connectionLost(); err != nil {
			return fmt.Errorf("%s left on the host: %w", left, err)
		}
		return h.Run(ctx, c.client)
	})
}
