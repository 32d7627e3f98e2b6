package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrConnectionLost means the SSH connection ended while it was in use,
// not through Close: the host's sshd for the connection died, the network
// reset it, or the client closed it for a host that stopped answering
// (Err then says why). Nothing more can run over that connection; the
// command that was running may still run on the host.
var ErrConnectionLost = errors.New("SSH connection lost")

// LostError is a connection that ended under its user: what a command or
// an upload on it fails with once the connection is gone, and what Lost
// returns.
type LostError struct {
	// Addr is the host's address and port.
	Addr string
	// Cause is what ended the connection: the transport's error (EOF, a
	// reset) or, when the client closed it, why (Err).
	Cause error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("SSH connection to %s lost: %v", e.Addr, e.Cause)
}

func (e *LostError) Unwrap() []error { return []error{ErrConnectionLost, e.Cause} }

// closedEOF reads better than a bare "EOF" for the usual way a connection
// ends under us: the host's end went away (its sshd killed, rebooted) or
// something between reset it.
var closedEOF = fmt.Errorf("closed by the host or the network (%w)", io.EOF)

// watch waits for the transport to end and records why, so Lost can tell
// a connection that went away from one closed by Close.
func (c *Client) watch() {
	err := c.ssh.Wait()
	if errors.Is(err, io.EOF) || err == nil {
		err = closedEOF
	}
	c.mu.Lock()
	c.waitErr = err
	c.mu.Unlock()
	close(c.dead)
}

// Lost returns a *LostError once the connection has ended other than by
// Close (see ErrConnectionLost), and nil while it is up or after Close.
// An end is seen once the transport has noticed it: a command that has
// just failed on a connection that is going away may get there first,
// which is why Run and Upload check (see settle) before they report.
func (c *Client) Lost() error {
	select {
	case <-c.dead:
	default:
		return nil
	}
	if c.closing.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cause := c.waitErr
	if c.cause != nil {
		cause = c.cause
	}
	return &LostError{Addr: c.target.hostPort(), Cause: cause}
}

// settle decides, after a command or upload failed for a reason of the
// transport's, whether the connection itself is gone. The session's end
// and the connection's are seen by different goroutines, so the first
// may be reported before the second is: settle waits for either the
// connection's end or the host's answer to a keepalive, at most grace
// (a host that answers neither is frozen, not gone: the keepalive closes
// that connection in time). It returns Lost's error, or nil.
func (c *Client) settle(grace time.Duration) error {
	if err := c.Lost(); err != nil {
		return err
	}
	if c.closing.Load() {
		return nil
	}
	answer := make(chan error, 1)
	go func() {
		_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
		answer <- err
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-c.dead:
		return c.Lost()
	case err := <-answer:
		if err == nil {
			return nil // the host answered: the connection is alive
		}
		// The request failed because the connection is ending; its end
		// is recorded a moment after.
		select {
		case <-c.dead:
			return c.Lost()
		case <-timer.C:
			return nil
		}
	case <-timer.C:
		return nil
	}
}

// Redial dials c's target again, with the same pinned host key, client key
// and options, but a backoff of at most RedialMaxBackoff between attempts
// and a single handshake: a host presenting another key or refusing the
// key now is not waited for. It is for work that must still be done on a
// host whose connection was lost (the cleanups a run left there). The new
// client runs commands as c did (CheckSudo's finding is kept). ctx bounds
// the attempts; a dial that fails names the connection that was lost.
//
// It dials at most once per Client: later calls return the first call's
// client or error, so a run's cleanups do not each wait out a host that
// is gone.
func (c *Client) Redial(ctx context.Context) (*Client, error) {
	c.redial.Do(func() {
		o := c.opts
		o.MaxBackoff = min(o.MaxBackoff, RedialMaxBackoff)
		o.InitialBackoff = min(o.InitialBackoff, o.MaxBackoff)
		o.HandshakeBudget = 1
		o.Progress = nil
		fresh, err := Dial(ctx, c.target, o)
		if err != nil {
			lost := c.Lost()
			if lost == nil {
				lost = fmt.Errorf("SSH connection to %s", c.target.hostPort())
			}
			c.redialErr = fmt.Errorf("%w; reconnecting failed: %w", lost, err)
			return
		}
		fresh.sudoLogin.Store(c.sudoLogin.Load())
		c.redialed = fresh
	})
	return c.redialed, c.redialErr
}

// RedialMaxBackoff caps the wait between Redial's attempts: a host that
// is back is reached soon after, and the caller's deadline, not the
// backoff, decides how long to try.
const RedialMaxBackoff = 2 * time.Second
