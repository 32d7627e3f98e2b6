package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultMaxOutput is how much of a command's output ExecResult keeps.
const DefaultMaxOutput = 4 << 20

// DefaultCancelGrace is DialOptions.CancelGrace's default: how long Run
// may go on after its ctx has ended, waiting for the command it kills.
// Callers with a hard deadline of their own end a Run's ctx that much
// before it.
const DefaultCancelGrace = 2 * time.Second

// RunSpec is one command to run on the host.
type RunSpec struct {
	// Command is a bash script; it runs in a login shell (bash -lc) so PATH
	// from ~/.profile (rustup, nix) is set, unless NoProfile.
	Command string
	// AsUser runs the command as that user through `sudo -n -iu USER`:
	// always for another user, and for the login user too once
	// Client.CheckSudo found that it may sudo (with NoProfile, `sudo -n -u
	// USER`, and never for the login user). Empty means the login user's
	// own shell, without sudo.
	AsUser string
	// NoProfile runs the command in a plain `bash -c` (through `sudo -n -u
	// USER` for another user) instead of a login shell. It is for the
	// cycle's own housekeeping, which needs nothing a profile sets up: a
	// login profile can take seconds (a version manager's rehash) or be
	// broken, and neither may hold up a teardown that a cancel gives
	// seconds, nor fail a cleanup. sshd still starts the login user's
	// shell, which may read its rc file; only the login is skipped.
	NoProfile bool
	// Timeout, when positive, kills the command after that long and
	// reports TimedOut.
	Timeout time.Duration
	// Stdout, when set, receives the combined output live.
	Stdout io.Writer
	// Env is exported at the top of the script, after the login profile
	// has run, so it wins over what the profile sets.
	Env map[string]string
	// MaxOutput caps ExecResult.Output (default DefaultMaxOutput); the
	// oldest bytes are dropped first.
	MaxOutput int
}

// ExecResult is how a command ended. A command that ran and failed is a
// result, not an error.
type ExecResult struct {
	// ExitCode is the command's exit status; 128+n when it died of signal n
	// (as bash reports it), -1 when the host reported no end.
	ExitCode int
	// Output is the combined stdout and stderr, its last MaxOutput bytes.
	Output []byte
	// OutputDropped counts the bytes dropped from the start of Output.
	OutputDropped int64
	Duration      time.Duration
	// TimedOut is set when RunSpec.Timeout killed the command.
	TimedOut bool
	// Signal names the signal the command died of ("TERM", "KILL"), if any.
	Signal string
}

// OK reports whether the command ran to completion and exited 0.
func (r ExecResult) OK() bool { return r.ExitCode == 0 && !r.TimedOut }

// Run runs one command in its own session. The error is only for a
// connection that failed or a ctx that ended; on timeout or cancellation the
// command is stopped (TERM, then KILL: see kill) and its session closed,
// and Run returns without waiting for a host that no longer answers. After a cancellation it waits
// at most CancelGrace, and closes the connection only if the host has
// answered neither the kill nor a keepalive by then (Err then wraps
// ErrUnresponsive).
func (c *Client) Run(ctx context.Context, s RunSpec) (ExecResult, error) {
	res := ExecResult{ExitCode: -1}
	marker := newToken()
	cmd, err := remoteCommand(c.target.User, c.sudoLogin.Load(), s, marker)
	if err != nil {
		return res, err
	}
	name := commandName(s.Command)
	if ctx.Err() != nil {
		return res, fmt.Errorf("run %s: %w", name, context.Cause(ctx))
	}
	sess, err := c.newSession(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// Given up on, not failed: asking whether the connection
			// is gone would wait on a host that may not answer.
			return res, c.closedErr("run "+name+": open session", err)
		}
		return res, c.transportErr(ctx, "run "+name+": open session", err)
	}
	defer sess.Close()

	out := newOutput(s.MaxOutput, s.Stdout, func(err error) {
		c.opts.Logger.Warn("live output stopped; output is still kept", "command", name, "err", err)
	})
	sess.Stdout = out
	sess.Stderr = out
	start := time.Now()
	if err := sess.Start(cmd); err != nil {
		return res, c.transportErr(ctx, "run "+name+": start", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	var timeout <-chan time.Time
	if s.Timeout > 0 {
		fired, stop := c.opts.StepTimer(s.Timeout)
		defer stop()
		timeout = fired
	}
	var waitErr, ctxErr error
	ended := true
	select {
	case waitErr = <-done:
	case <-timeout:
		res.TimedOut = true
		ended, waitErr = c.kill(sess, done, s.AsUser, marker, false)
	case <-ctx.Done():
		ctxErr = context.Cause(ctx)
		ended, waitErr = c.kill(sess, done, s.AsUser, marker, true)
	}
	res.Duration = time.Since(start)
	res.Output, res.OutputDropped = out.snapshot()

	var exit *ssh.ExitError
	switch {
	case ended && waitErr == nil:
		res.ExitCode = 0
	case errors.As(waitErr, &exit):
		res.ExitCode = exit.ExitStatus()
		res.Signal = exit.Signal()
	case ctxErr != nil:
		return res, fmt.Errorf("run %s: %w", name, ctxErr)
	case res.TimedOut:
		// Killed on our side; the host did not report how it ended.
	default:
		if waitErr == nil {
			waitErr = errors.New("no exit status before the session closed")
		}
		return res, c.transportErr(ctx, "run "+name, waitErr)
	}
	if ctxErr != nil {
		return res, fmt.Errorf("run %s: %w", name, ctxErr)
	}
	return res, nil
}

// kill ends a command with a sweep for processes carrying the command's
// marker (sweepScript: TERM, a moment, then KILL, also to their process
// groups); once the sweep is over, or the grace below has passed, SIGKILL
// through the session (OpenSSH's killpg) for what the sweep could not
// reach. TERM comes first because a shell killed outright while it holds
// a lock file (a login profile's `pyenv rehash`) leaves the lock, and every
// later login on the host waits a minute on it; and only the sweep sends
// it, since a second TERM while bash runs its EXIT trap kills bash before
// the trap is done. Then kill waits up to a grace for the host to report
// the end. After a timeout the grace is KillGrace, and once it passes the
// session is closed and KillGrace waited again. After a cancellation (a signal: the runner kills us about
// 10 s later, and the teardown still has to run) the grace is CancelGrace,
// and the session is closed once it passes. Whether the connection is kept
// is decided by a keepalive sent at the cancel, not by how soon the killed
// command reports its end: its processes may take the sweep's second to
// die, yet a host that answers is alive and the teardown's cleanups need
// the connection. Only a host that has answered neither the keepalive nor
// the kill within the grace is taken for dead, and the whole connection
// closed, so the cleanups that would use it fail at once instead of each
// waiting out its own budget. ended is false when the host did not report
// the end; the session's goroutines then end with the session.
func (c *Client) kill(sess *ssh.Session, done <-chan error, asUser, marker string, cancelled bool) (ended bool, waitErr error) {
	grace := c.opts.KillGrace
	var answered <-chan struct{}
	if cancelled {
		grace = min(grace, c.opts.CancelGrace)
		answered = c.ping()
	}
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		// KillGrace even after a cancel: the sweep goes on when we stop
		// waiting for it, and a short grace must not keep it from
		// starting on a slow host.
		if err := c.sweep(asUser, marker, c.opts.KillGrace); err != nil {
			c.opts.Logger.Warn("could not sweep the killed command's processes", "err", err)
		}
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	// Wait for both: the sweep also reaches what killpg cannot (another
	// user's processes, escaped sessions), and the next command should not
	// race it.
	alive := false
	for !ended || swept != nil {
		select {
		case waitErr = <-done:
			ended, done = true, nil
		case <-swept:
			swept = nil
			if !ended {
				_ = sess.Signal(ssh.SIGKILL)
			}
		case <-answered:
			alive, answered = true, nil
		case <-timer.C:
			if ended {
				return true, waitErr
			}
			_ = sess.Signal(ssh.SIGKILL)
			sess.Close()
			if cancelled {
				if !alive {
					c.fail(fmt.Errorf("%w: the host answered neither a keepalive nor the kill of a command within %s of the cancel", ErrUnresponsive, grace))
				} else {
					c.opts.Logger.Warn("a cancelled command did not report its end; its session is closed, the connection kept", "grace", grace)
				}
				return false, nil
			}
			timer.Reset(c.opts.KillGrace)
			select {
			case err := <-done:
				return true, err
			case <-timer.C:
				return false, nil
			}
		}
	}
	return true, waitErr
}

// ping sends a keepalive request and returns a channel closed when the host
// answers it. Any answer counts, as in keepalive (OpenSSH's "request
// failed" too). It is also closed when the connection fails meanwhile:
// then there is nothing left to give up on, and the commands on it fail
// with the connection's own error.
func (c *Client) ping() <-chan struct{} {
	answered := make(chan struct{})
	go func() {
		_, _, _ = c.ssh.SendRequest("keepalive@openssh.com", true, nil)
		close(answered)
	}()
	return answered
}

// CheckSudo asks the host, once per connection, whether the login user
// may sudo without a password (`sudo -n true`). When it may, commands
// whose AsUser is the login user run through `sudo -n -iu USER` from then
// on, as commands as any other user do (NoProfile ones excepted: they need
// no fresh login); when it may not, ok is false and they keep running in
// the login user's own login shell. The error is for
// a connection that failed or a ctx that ended, not for a refusal.
func (c *Client) CheckSudo(ctx context.Context) (ok bool, err error) {
	res, err := c.Run(ctx, RunSpec{Command: "sudo -n true", NoProfile: true, Timeout: time.Minute})
	if err != nil {
		return false, fmt.Errorf("check for passwordless sudo: %w", err)
	}
	c.sudoLogin.Store(res.OK())
	return res.OK(), nil
}

// sweep runs sweepScript as the user the command ran as, in a session of
// its own, within grace.
func (c *Client) sweep(asUser, marker string, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	cmd, err := sweepCommand(c.target.User, asUser, marker)
	if err != nil {
		return err
	}
	sess, err := c.newSession(ctx)
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	defer sess.Close()
	out := newOutput(64<<10, nil, nil)
	sess.Stdout, sess.Stderr = out, out
	if err := sess.Start(cmd); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	sweepDone := make(chan error, 1)
	go func() { sweepDone <- sess.Wait() }()
	select {
	case err := <-sweepDone:
		if err != nil {
			b, _ := out.snapshot()
			return fmt.Errorf("%w: %s", err, bytes.TrimSpace(b))
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newSession opens a session but gives up when ctx ends: opening waits for
// the host's reply, which a stalled host never sends.
func (c *Client) newSession(ctx context.Context) (*ssh.Session, error) {
	type opened struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := c.ssh.NewSession()
		ch <- opened{s, err}
	}()
	select {
	case o := <-ch:
		return o.s, o.err
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.s != nil {
				o.s.Close()
			}
		}()
		return nil, context.Cause(ctx)
	}
}

// transportErr adds why the connection ended, when it has: a *LostError
// (its cause is why we closed it, when we did), so the caller can tell a
// command that could not finish because the connection went away from a
// failure of the command.
func (c *Client) transportErr(ctx context.Context, what string, err error) error {
	lost, gaveUp := c.settle(ctx, c.opts.KillGrace)
	if lost != nil {
		if strings.Contains(lost.Error(), err.Error()) {
			return fmt.Errorf("%s: %w", what, lost) // "… (EOF) (EOF)" says nothing more
		}
		return fmt.Errorf("%s: %w (%w)", what, lost, err)
	}
	if gaveUp != nil {
		err = fmt.Errorf("%w; stopped waiting for the host to answer: %w", err, gaveUp)
	}
	return c.closedErr(what, err)
}

// closedErr adds why the connection was closed, when we closed it.
func (c *Client) closedErr(what string, err error) error {
	if cause := c.Err(); cause != nil {
		return fmt.Errorf("%s: %w (%w)", what, cause, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// commandName is the command shortened for errors and logs.
func commandName(cmd string) string {
	const max = 60
	r := []rune(cmd)
	if len(r) > max {
		return fmt.Sprintf("%q", string(r[:max])+"…")
	}
	return fmt.Sprintf("%q", cmd)
}

// output keeps the tail of a command's combined output and copies it live.
// sshd sends stdout and stderr on separate streams that x/crypto copies from
// two goroutines, hence the lock.
type output struct {
	mu      sync.Mutex
	buf     []byte
	max     int
	dropped int64
	live    io.Writer
	onLive  func(error)
}

func newOutput(max int, live io.Writer, onLiveErr func(error)) *output {
	if max <= 0 {
		max = DefaultMaxOutput
	}
	return &output{max: max, live: live, onLive: onLiveErr}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.live != nil {
		if _, err := o.live.Write(p); err != nil {
			// A broken log must not kill the command: keep collecting.
			o.live = nil
			o.onLive(err)
		}
	}
	o.buf = append(o.buf, p...)
	// Trim in amortized steps rather than on every write.
	if len(o.buf) > 2*o.max {
		cut := len(o.buf) - o.max
		o.dropped += int64(cut)
		o.buf = append(o.buf[:0], o.buf[cut:]...)
	}
	return len(p), nil
}

func (o *output) snapshot() ([]byte, int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, dropped := o.buf, o.dropped
	if len(b) > o.max {
		dropped += int64(len(b) - o.max)
		b = b[len(b)-o.max:]
	}
	return append([]byte(nil), b...), dropped
}
