// Package remote is the cycle's SSH side: per-run keys, dialing a host with
// a pinned host key and backoff, keepalives, running commands through a
// login shell (the cycle's housekeeping without one) with per-command
// timeouts, streaming their output, and SFTP uploads.
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/waits"
)

var (
	// ErrHostKeyMismatch means the host presented a key other than the pinned
	// one until the handshake budget was spent. The cycle reports it as
	// "refused": it may be another machine on a reused address.
	ErrHostKeyMismatch = errors.New("host key mismatch")
	// ErrAuth means the host refused the client key until the handshake
	// budget was spent.
	ErrAuth = errors.New("authentication failed")
	// ErrKeepalive means the host stopped answering keepalives and the
	// connection was closed.
	ErrKeepalive = errors.New("host stopped answering keepalives")
	// ErrUnresponsive means a command or upload was cancelled and the host
	// answered neither its end nor a keepalive within CancelGrace, so the
	// connection was closed.
	ErrUnresponsive = errors.New("host stopped answering")
)

// Target is one host to reach.
type Target struct {
	Addr string // IP or name
	Port int    // 0 means 22
	User string
	// Signer is the client key.
	Signer ssh.Signer
	// HostKey is the key the host must present, in authorized_keys form.
	// Empty only when Insecure is set.
	HostKey string
	// Insecure accepts any host key when HostKey is empty (the
	// insecure-host-key input), with a warning naming the presented key's
	// fingerprint.
	Insecure bool
}

func (t Target) hostPort() string {
	port := t.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(t.Addr, strconv.Itoa(port))
}

// String names the target without key material.
func (t Target) String() string {
	return fmt.Sprintf("%s@%s (host key %s, client key %s)", t.User, t.hostPort(), t.hostKeyName(), signerFingerprint(t.Signer))
}

// GoString keeps %#v from dumping the signer.
func (t Target) GoString() string { return t.String() }

// Format makes every verb print String.
func (t Target) Format(f fmt.State, _ rune) { fmt.Fprint(f, t.String()) }

// LogValue logs the target without key material.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", t.hostPort()),
		slog.String("user", t.User),
		slog.String("host_key", t.hostKeyName()),
	)
}

func (t Target) hostKeyName() string {
	if t.HostKey == "" && t.Insecure {
		return "any (insecure)"
	}
	return authorizedFingerprint(t.HostKey)
}

// DialOptions tunes Dial. Zero values mean the defaults.
type DialOptions struct {
	// InitialBackoff is the wait after the first failed attempt (default
	// 1s); it doubles per attempt up to MaxBackoff (default 15s), with
	// jitter.
	InitialBackoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one TCP connect plus SSH handshake (default
	// 20s), so a host that accepts and then says nothing is retried.
	AttemptTimeout time.Duration
	// HandshakeBudget is how many handshakes may fail on authentication or
	// host key before Dial gives up (default 3). Connection-level failures
	// (refused, timeout, reset, EOF) do not count: they are retried until
	// ctx is done.
	HandshakeBudget int
	// Keepalive is the interval of keepalive@openssh.com requests (default
	// 5s; negative disables). After KeepaliveMaxMissed (default 3)
	// unanswered intervals the connection is closed, so running commands
	// fail instead of hanging.
	Keepalive          time.Duration
	KeepaliveMaxMissed int
	// KillGrace is how long Run waits for a killed command to report its
	// end, and then for the closed session to finish (default 5s each).
	KillGrace time.Duration
	// CancelGrace is how long Run waits for a command killed because its
	// ctx was cancelled (default 2s, at most KillGrace): a signal leaves
	// seconds for the teardown. A host that has answered neither the kill
	// nor a keepalive sent at the cancel by then is given up on and the
	// connection closed; on one that answered, only the command's session
	// is closed, and the connection stays for the cleanups.
	CancelGrace time.Duration
	// RedialLimit bounds one Redial (default 30s): the host-side cleanups
	// after a lost connection (on a host we did not create, the suite's
	// user with passwordless sudo) are worth waiting for a host that comes
	// back, not a whole teardown budget.
	RedialLimit time.Duration
	Logger      *slog.Logger
	// Progress, when set, is called after every failed attempt.
	Progress func(attempt int, err error)
	// Sleep waits between attempts, or returns ctx's error once ctx ends
	// (default waits.Sleep); tests record the waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
	// StepTimer starts the timer of a RunSpec.Timeout: fired delivers
	// once d has passed, stop releases it (default a time.Timer). Tests
	// start it where the command's output says it has got to, so what
	// they check does not depend on how fast a loaded host starts it.
	StepTimer func(d time.Duration) (fired <-chan time.Time, stop func())
}

func (o DialOptions) withDefaults() DialOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.InitialBackoff, time.Second)
	def(&o.MaxBackoff, 15*time.Second)
	def(&o.AttemptTimeout, 20*time.Second)
	def(&o.Keepalive, 5*time.Second)
	def(&o.KillGrace, 5*time.Second)
	def(&o.CancelGrace, DefaultCancelGrace)
	def(&o.RedialLimit, 30*time.Second)
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	if o.HandshakeBudget <= 0 {
		o.HandshakeBudget = 3
	}
	if o.KeepaliveMaxMissed <= 0 {
		o.KeepaliveMaxMissed = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = waits.Sleep
	}
	if o.StepTimer == nil {
		o.StepTimer = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTimer(d)
			return t.C, func() { t.Stop() }
		}
	}
	return o
}

// Client is an open SSH connection to one host. It is safe for concurrent
// use: each Run opens its own session.
type Client struct {
	ssh       *ssh.Client
	target    Target
	opts      DialOptions
	closeOnce sync.Once
	stop      chan struct{} // closed by Close: ends the keepalive loop

	// sudoLogin is set once CheckSudo found that the login user may sudo:
	// commands as the login user then go through sudo too.
	sudoLogin atomic.Bool

	// dead is closed once the transport has ended, for whatever reason;
	// closing is set by Close first, so an end it caused is not a loss.
	dead    chan struct{}
	closing atomic.Bool

	// hostKey is the key the host presented when this connection was
	// made: Redial pins it, so a target dialed without a pinned key
	// (insecure-host-key) is redialed only to the machine first reached.
	hostKey ssh.PublicKey

	// redialing is held by the Redial that is dialing (a channel, so a
	// caller waiting for it can give up with its ctx). redialed is the
	// one client it made; redialErr a failure to remember (see Redial),
	// redials how many dials Redial has made.
	redialing chan struct{}
	redialed  *Client
	redialErr error
	redials   int

	// gzipName is the command UploadCompressed decompresses with on the
	// host; empty means gzip. Only tests set it (to a name no host has),
	// to take the fallback for a host without gzip.
	gzipName string

	mu      sync.Mutex
	cause   error // why the connection was closed from our side, if it was
	waitErr error // why the transport ended, once dead is closed
}

// Dial connects to t, retrying with exponential backoff until ctx is done.
// Refused, timed out, reset and closed-before-handshake connections are
// retried; authentication failures and host key mismatches count against
// o.HandshakeBudget, and when it is spent the error wraps ErrAuth or
// ErrHostKeyMismatch.
func Dial(ctx context.Context, t Target, o DialOptions) (*Client, error) {
	o = o.withDefaults()
	log := o.Logger.With("target", t.hostPort(), "user", t.User)
	cfg, err := clientConfig(t, log)
	if err != nil {
		return nil, err
	}

	backoff := o.InitialBackoff
	var mismatch, authFail bool
	failures := 0
	for attempt := 1; ; attempt++ {
		c, presented, err := dialOnce(ctx, t, cfg, o.AttemptTimeout)
		err = noPinnedKeyType(err, t)
		if err == nil {
			log.Debug("connected", "attempt", attempt)
			return newClient(c, t, presented, o), nil
		}
		if ctx.Err() != nil {
			return nil, gaveUp(ctx, t, attempt, err)
		}
		var hk *hostKeyError
		switch {
		case errors.As(err, &hk):
			mismatch = true
			failures++
		case isAuthFailure(err):
			authFail = true
			failures++
		}
		log.Debug("dial attempt failed", "attempt", attempt, "err", err)
		if o.Progress != nil {
			o.Progress(attempt, err)
		}
		if failures >= o.HandshakeBudget {
			var sentinels []error
			if mismatch {
				sentinels = append(sentinels, ErrHostKeyMismatch)
			}
			if authFail {
				sentinels = append(sentinels, ErrAuth)
			}
			return nil, fmt.Errorf("dial %s: refused after %d failed handshakes: %w", t.hostPort(), failures,
				&budgetError{last: err, sentinels: sentinels})
		}
		if o.Sleep(ctx, jitter(backoff)) != nil {
			return nil, gaveUp(ctx, t, attempt, err)
		}
		backoff = min(2*backoff, o.MaxBackoff)
	}
}

// gaveUp wraps both the context's error and the last attempt's, so a
// caller can tell "never answered" from "answered with the wrong key".
func gaveUp(ctx context.Context, t Target, attempts int, last error) error {
	return fmt.Errorf("dial %s: gave up after %d attempts: %w; last attempt: %w", t.hostPort(), attempts, context.Cause(ctx), last)
}

// budgetError carries the last handshake error's text and wraps the
// sentinels of every kind of failure seen while the budget was spent.
type budgetError struct {
	last      error
	sentinels []error
}

func (e *budgetError) Error() string   { return e.last.Error() }
func (e *budgetError) Unwrap() []error { return append([]error{e.last}, e.sentinels...) }

func clientConfig(t Target, log *slog.Logger) (*ssh.ClientConfig, error) {
	if t.Addr == "" {
		return nil, fmt.Errorf("dial: address is empty; want an IP or host name")
	}
	if t.Port < 0 || t.Port > 65535 {
		return nil, fmt.Errorf("dial %s: port %d: want 1-65535", t.Addr, t.Port)
	}
	if t.User == "" {
		return nil, fmt.Errorf("dial %s: user is empty; want the remote login user", t.hostPort())
	}
	if t.Signer == nil {
		return nil, fmt.Errorf("dial %s: no client key", t.hostPort())
	}
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(t.Signer)},
	}
	switch {
	case t.HostKey != "":
		want, err := ParseAuthorizedKey("host key", t.HostKey)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", t.hostPort(), err)
		}
		cfg.HostKeyCallback = pinnedHostKey(want)
		// Ask only for the pinned key's algorithms: a host with several
		// host keys would otherwise present whichever the client prefers
		// and fail the pin.
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(want.Type())
	case t.Insecure:
		// Debug, not Warn: the user was warned once about
		// insecure-host-key where it was read; the key taken is detail.
		log.Debug("host key will not be verified (insecure-host-key): any machine answering on this address is trusted")
		cfg.HostKeyCallback = func(_ string, _ net.Addr, got ssh.PublicKey) error {
			log.Debug("accepting unverified host key", "fingerprint", ssh.FingerprintSHA256(got), "type", got.Type())
			return nil
		}
	default:
		return nil, fmt.Errorf("dial %s: host key is empty; want an authorized_keys line (\"ssh-ed25519 AAAA...\"), or the insecure-host-key input", t.hostPort())
	}
	return cfg, nil
}

func hostKeyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// hostKeyError names both fingerprints, never the keys.
type hostKeyError struct {
	addr              string
	expected, present string
}

func (e *hostKeyError) Error() string {
	return fmt.Sprintf("host key mismatch at %s: expected %s, presented %s", e.addr, e.expected, e.present)
}

func (e *hostKeyError) Unwrap() error { return ErrHostKeyMismatch }

func pinnedHostKey(want ssh.PublicKey) ssh.HostKeyCallback {
	wantBytes := want.Marshal()
	return func(hostname string, remote net.Addr, got ssh.PublicKey) error {
		if bytes.Equal(got.Marshal(), wantBytes) {
			return nil
		}
		return &hostKeyError{
			addr:     remote.String(),
			expected: ssh.FingerprintSHA256(want) + " (" + want.Type() + ")",
			present:  ssh.FingerprintSHA256(got) + " (" + got.Type() + ")",
		}
	}
}

// noPinnedKeyType turns "no common host key algorithm" into a mismatch: a
// host that has no key of the pinned type cannot have the pinned key.
func noPinnedKeyType(err error, t Target) error {
	var neg *ssh.AlgorithmNegotiationError
	if err == nil || t.HostKey == "" || !errors.As(err, &neg) || neg.What != "host key" {
		return err
	}
	want, perr := ParseAuthorizedKey("host key", t.HostKey)
	if perr != nil {
		return err
	}
	return &hostKeyError{
		addr:     t.hostPort(),
		expected: ssh.FingerprintSHA256(want) + " (" + want.Type() + ")",
		present:  "no " + want.Type() + " key (it offers " + strings.Join(neg.RequestedAlgorithms, ", ") + ")",
	}
}

// isAuthFailure recognises a refused key; x/crypto has no typed error for
// it. Its own messages say every method was refused ("ssh: unable to
// authenticate") or that it gave up after its cap on attempts ("ssh: too
// many authentication attempts"); a host that stops taking attempts
// disconnects, OpenSSH past MaxAuthTries with "Too many authentication
// failures", an x/crypto server with "too many authentication attempts".
func isAuthFailure(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "ssh: unable to authenticate") ||
		strings.Contains(msg, "too many authentication attempts") ||
		strings.Contains(msg, "too many authentication failures")
}

// dialOnce makes one connection and handshake. presented is the host key
// the handshake accepted.
func dialOnce(ctx context.Context, t Target, cfg *ssh.ClientConfig, timeout time.Duration) (_ *ssh.Client, presented ssh.PublicKey, _ error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.hostPort())
	if err != nil {
		return nil, nil, err
	}
	// The callback runs again on every re-key of the connection, on
	// x/crypto's goroutine: only the first key exchange's key, accepted
	// before NewClientConn returns, is recorded.
	var first atomic.Pointer[ssh.PublicKey]
	check := cfg.HostKeyCallback
	acfg := *cfg
	acfg.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := check(hostname, remote, key); err != nil {
			return err
		}
		first.CompareAndSwap(nil, &key)
		return nil
	}
	cfg = &acfg
	// The handshake has no context; a deadline on the socket bounds it, and
	// closing the socket when ctx ends interrupts it.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sconn, chans, reqs, err := ssh.NewClientConn(conn, t.hostPort(), cfg)
	if !stop() {
		if err == nil {
			sconn.Close()
		}
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, fmt.Errorf("ssh handshake: %w", err)
	}
	if err != nil {
		// x/crypto closes conn on a failed handshake already; closing it
		// here too keeps a refused host from leaking sockets should that
		// change (TestDialFailedHandshakesCloseTheirSockets).
		conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	if p := first.Load(); p != nil {
		presented = *p
	}
	return ssh.NewClient(sconn, chans, reqs), presented, nil
}

func newClient(c *ssh.Client, t Target, hostKey ssh.PublicKey, o DialOptions) *Client {
	cl := &Client{
		ssh: c, target: t, hostKey: hostKey, opts: o,
		stop: make(chan struct{}), dead: make(chan struct{}), redialing: make(chan struct{}, 1),
	}
	go cl.watch()
	if o.Keepalive > 0 {
		go cl.keepalive(o.Keepalive, o.KeepaliveMaxMissed)
	}
	return cl
}

// keepalive sends a global request every interval and closes the
// connection once maxMissed intervals pass without a reply. Any reply
// counts, including OpenSSH's "request failed" for an unknown request name.
func (c *Client) keepalive(interval time.Duration, maxMissed int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var pending chan error
	missed := 0
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		if pending != nil {
			select {
			case err := <-pending:
				if err != nil {
					return // the connection is already gone
				}
				missed = 0
			default:
				missed++
				if missed >= maxMissed {
					c.fail(fmt.Errorf("%w: no reply in %s (%d intervals of %s)", ErrKeepalive,
						time.Duration(missed)*interval, missed, interval))
					return
				}
				continue
			}
		}
		pending = make(chan error, 1)
		go func(done chan<- error) {
			_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
			done <- err
		}(pending)
	}
}

// fail closes the connection and records why, so the commands it breaks
// can say so.
func (c *Client) fail(cause error) {
	c.mu.Lock()
	if c.cause == nil {
		c.cause = cause
	}
	c.mu.Unlock()
	c.opts.Logger.Warn("closing SSH connection", "target", c.target.hostPort(), "reason", cause)
	c.ssh.Close()
}

// Err returns why the connection was closed by the client (keepalive, or
// a host that did not answer a cancelled command's kill), or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// Close closes the connection; commands still running fail.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		close(c.stop)
		err = c.ssh.Close()
		if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
			err = nil
		}
	})
	return err
}

// Target returns the target the client was dialed with.
func (c *Client) Target() Target { return c.target }

// Keepalive reports the keepalive this connection runs with, after
// defaults: the interval (negative: none) and how many unanswered
// intervals close it. Callers' tests check it, since a keepalive's effect
// (a NAT that keeps a quiet connection) cannot be seen from here.
func (c *Client) Keepalive() (interval time.Duration, maxMissed int) {
	return c.opts.Keepalive, c.opts.KeepaliveMaxMissed
}

func jitter(d time.Duration) time.Duration {
	// Half fixed, half random: attempts from many legs spread out, and the
	// wait never collapses to zero.
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}
