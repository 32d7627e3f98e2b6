package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
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

// errClosedEOF reads better than a bare "EOF" for the usual way a connection
// ends under us: the host's end went away (its sshd killed, rebooted) or
// something between reset it.
var errClosedEOF = fmt.Errorf("closed by the host or the network (%w)", io.EOF)

// watch waits for the transport to end and records why, so Lost can tell
// a connection that went away from one closed by Close.
func (c *Client) watch() {
	err := c.ssh.Wait()
	if errors.Is(err, io.EOF) || err == nil {
		err = errClosedEOF
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
// that connection in time) and never past ctx, whose budget (a cancel's
// few seconds) is the caller's to spend, not the wait's. It returns
// Lost's error; or, when ctx ended before the host was heard from,
// ctx's cause as gaveUp; or neither.
func (c *Client) settle(ctx context.Context, grace time.Duration) (lost, gaveUp error) {
	if err := c.Lost(); err != nil {
		return err, nil
	}
	if c.closing.Load() {
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
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
		return c.Lost(), nil
	case err := <-answer:
		if err == nil {
			return nil, nil // the host answered: the connection is alive
		}
		// The request failed because the connection is ending; its end
		// is recorded a moment after.
		select {
		case <-c.dead:
			return c.Lost(), nil
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return c.lostOr(ctx)
		}
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return c.lostOr(ctx)
	}
}

// lostOr is settle's answer once ctx has ended: the loss if it has been
// seen meanwhile, else ctx's cause.
func (c *Client) lostOr(ctx context.Context) (lost, gaveUp error) {
	if err := c.Lost(); err != nil {
		return err, nil
	}
	return nil, context.Cause(ctx)
}

// Redial dials c's target again, with the same client key and options,
// but a backoff of at most RedialMaxBackoff between attempts, a single
// handshake, and at most DialOptions.RedialLimit: a host presenting
// another key or refusing the key now is not waited for. The host must
// present the key it presented when c was dialed: the pinned key, or,
// for a target dialed with Insecure, the key accepted then (trust on
// first use), so the cleanups run as root over the new connection reach
// the same machine, not whichever answers at the address now. It is for
// work that must still be done on a host whose connection was lost (the
// cleanups a run left there). The new client runs commands as c did
// (CheckSudo's finding is kept). A dial that fails names the connection
// that was lost.
//
// It makes at most one client per c: later calls return it. A failure of
// the dial's own (the host-key mismatch, the key refused, RedialLimit
// spent) is remembered too and returned to later calls without dialing,
// so a run's cleanups do not each wait out a host that is gone. A dial
// that ctx ended is not: the next caller, with its own budget, may try
// again, up to maxRedials dials in all.
func (c *Client) Redial(ctx context.Context) (*Client, error) {
	select {
	case c.redialing <- struct{}{}:
	default:
		// Another caller is dialing: wait for its outcome, within ctx.
		select {
		case c.redialing <- struct{}{}:
		case <-ctx.Done():
			return nil, c.redialFailed(fmt.Errorf("waiting for another reconnect: %w", context.Cause(ctx)))
		}
	}
	defer func() { <-c.redialing }()
	if c.redialed != nil || c.redialErr != nil {
		return c.redialed, c.redialErr
	}
	if ctx.Err() != nil {
		return nil, c.redialFailed(fmt.Errorf("dial %s: %w", c.target.hostPort(), context.Cause(ctx)))
	}
	t, err := c.redialTarget()
	if err != nil {
		c.redialErr = c.redialFailed(err)
		return nil, c.redialErr
	}
	o := c.opts
	o.MaxBackoff = min(o.MaxBackoff, RedialMaxBackoff)
	o.InitialBackoff = min(o.InitialBackoff, o.MaxBackoff)
	o.HandshakeBudget = 1
	o.Progress = nil
	rctx, cancel := context.WithTimeoutCause(ctx, o.RedialLimit,
		fmt.Errorf("no connection within the reconnect limit of %s: %w", o.RedialLimit, context.DeadlineExceeded))
	defer cancel()
	c.redials++
	fresh, err := Dial(rctx, t, o)
	if err != nil {
		if c.target.HostKey == "" && errors.Is(err, ErrHostKeyMismatch) {
			err = fmt.Errorf("%w: not the machine first reached there (insecure-host-key trusted the key it presented on the first connection, and only that key for reconnecting)", err)
		}
		err = c.redialFailed(err)
		if ctx.Err() == nil || c.redials >= maxRedials {
			c.redialErr = err
		}
		return nil, err
	}
	fresh.sudoLogin.Store(c.sudoLogin.Load())
	c.redialed = fresh
	return fresh, nil
}

// redialTarget is c's target with the key the host presented at the
// first dial pinned.
func (c *Client) redialTarget() (Target, error) {
	t := c.target
	if t.HostKey != "" {
		return t, nil
	}
	if c.hostKey == nil {
		// Cannot happen after a handshake; refusing is the safe answer.
		return t, fmt.Errorf("dial %s: no host key was recorded on the first connection, so the machine answering now cannot be checked", t.hostPort())
	}
	t.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(c.hostKey)))
	t.Insecure = false
	return t, nil
}

// redialFailed names the lost connection in Redial's error.
func (c *Client) redialFailed(err error) error {
	lost := c.Lost()
	if lost == nil {
		lost = fmt.Errorf("SSH connection to %s", c.target.hostPort())
	}
	return fmt.Errorf("%w; reconnecting failed: %w", lost, err)
}

// RedialMaxBackoff caps the wait between Redial's attempts: a host that
// is back is reached soon after, and the caller's deadline, not the
// backoff, decides how long to try.
const RedialMaxBackoff = 2 * time.Second

// maxRedials bounds how many dials Redial makes for one client when each
// was ended by its caller's ctx: the cleanups after a lost connection
// each call it, and a host that is gone should not take each a budget.
const maxRedials = 3
