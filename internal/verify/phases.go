package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// What the phases (ready.go, probe.go, suite.go, collect.go, teardown.go)
// share: running a host command, masking its output, counting remote
// time, and redialing a lost connection.

// oneLine is the host's output for an error: masked, one line, at most
// max bytes.
func (c *cycle) oneLine(out []byte, max int) string {
	s := strings.Join(strings.Fields(remote.MaskString(string(out), c.secrets())), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// runStreamed runs a command with its output live under a group named name.
func (c *cycle) runStreamed(ctx context.Context, name string, spec remote.RunSpec) (remote.ExecResult, error) {
	w := remote.NewStepWriter(c.out, name, c.plan.Actions)
	hb := startHeartbeat(c.out, w, c.plan.Actions, name, c.plan.Heartbeat)
	spec.Stdout = hb
	res, err := c.client.Run(ctx, spec)
	hb.Stop()
	w.Close()
	res.Output = []byte(remote.MaskString(string(res.Output), c.secrets()))
	return res, err
}

func (c *cycle) secrets() []string {
	s := append([]string{}, c.plan.Secrets...)
	if c.keys != nil {
		s = append(s, c.keys.Secrets()...)
	}
	return s
}

// addRemote counts time spent inside a remote command. Every command the
// cycle runs on the host counts (checks, probe, steps, collect, host-side
// cleanups), so a leg's duration minus RemoteTime is the cycle's own
// overhead, which bench/overhead.sh measures.
func (c *cycle) addRemote(d time.Duration) {
	c.mu.Lock()
	c.res.RemoteTime += d
	c.mu.Unlock()
}

// connectionLost says why host-side cleanups cannot run: the connection
// was lost and reconnecting failed, or it was closed by us after a signal
// (a host that stopped answering), so trying would only wait for a dead
// host. A connection lost otherwise is redialed first (reconnect).
func (c *cycle) connectionLost(ctx context.Context) error {
	if err := c.reconnect(ctx); err != nil {
		return fmt.Errorf("not done: %w", err)
	}
	if err := c.client.Err(); err != nil {
		return fmt.Errorf("not done, the SSH connection was closed: %w", err)
	}
	return nil
}

// reconnect makes c.client usable again for what the run still owes the
// host (its logs, the host-side cleanups) when the connection was lost:
// it redials with the same client key, to the host key the lost
// connection was made to (pinned, or under insecure-host-key the one
// first accepted), within ctx and remote's RedialLimit. Collect calls it
// first, perhaps with little of its budget left: a redial its ctx cut
// short is tried again by the host cleanups, with theirs, while a host
// that refused, or did not answer within the limit, is not waited for
// again. A connection we closed on a host that answered neither a kill
// nor a keepalive after a signal is not redialed: the cancel budget has
// no time to wait for it again. The error names the lost connection, and
// why reconnecting failed.
func (c *cycle) reconnect(ctx context.Context) error {
	return c.reconnectFor(ctx, "for the logs and cleanups")
}

// reconnectFor is reconnect saying in its progress line what for.
func (c *cycle) reconnectFor(ctx context.Context, what string) error {
	lost := c.client.Lost()
	if lost == nil || errors.Is(lost, remote.ErrUnresponsive) {
		return nil
	}
	fresh, err := c.client.Redial(ctx)
	if err != nil {
		return err
	}
	old := c.client
	c.client = fresh
	old.Close()
	fmt.Fprintf(c.out, "   %v; reconnected with the same keys %s\n", lost, what)
	c.plan.log().Debug("SSH connection lost; reconnected", "host", c.host.Address, "cause", lost)
	return nil
}
