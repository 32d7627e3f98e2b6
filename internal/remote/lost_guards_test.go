package remote

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// guard is a test's own bound on a wait that the code under test must end
// by itself: when it passes, the code ignored what should have ended it,
// and the test fails instead of hanging. Generous: it is never what a
// passing test waits for.
const guard = time.Minute

// lostClient dials f's host with o, then drops the connection and stops
// the host, so nothing answers at its address: the client is lost and a
// Redial's attempts are refused.
func lostClient(t *testing.T, f *fixture, o DialOptions) *Client {
	t.Helper()
	c := f.dial(t, o)
	done := startDroppable(t, c)
	if _, err := f.host.DropConnections(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; !errors.Is(r.err, ErrConnectionLost) {
		t.Fatalf("Run on the dropped connection: %v, want ErrConnectionLost", r.err)
	}
	if err := f.host.Stop(testContext(t)); err != nil {
		t.Fatalf("stop the host: %v", err)
	}
	return c
}

// TestRedialWaitingCallerStopsAtItsCtx: while one Redial is dialing (held
// in its wait between attempts), a second caller waits for its outcome
// only as long as its own ctx: with that ctx already ended it returns at
// once, naming the wait and wrapping ctx's error, and the first dial
// carries on.
func TestRedialWaitingCallerStopsAtItsCtx(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.RedialLimit = time.Hour // only the test ends the first dial
	waiting := make(chan struct{})
	var once sync.Once
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		once.Do(func() { close(waiting) })
		<-ctx.Done()
		return ctx.Err()
	}
	c := lostClient(t, f, o)

	firstCtx, stopFirst := context.WithCancel(testContext(t))
	defer stopFirst()
	first := make(chan error, 1)
	go func() {
		_, err := c.Redial(firstCtx)
		first <- err
	}()
	<-waiting // the first Redial holds the dial

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	second := make(chan error, 1)
	go func() {
		_, err := c.Redial(ctx)
		second <- err
	}()
	select {
	case err := <-second:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "waiting for another reconnect") {
			t.Errorf("second Redial with an ended ctx = %v; want it to wrap context.Canceled and say it was waiting for another reconnect", err)
		}
		if !errors.Is(err, ErrConnectionLost) {
			t.Errorf("second Redial error %q does not name the lost connection", err)
		}
	case err := <-first:
		t.Fatalf("the first Redial ended (%v) while the test held it", err)
	case <-time.After(guard):
		stopFirst()
		t.Fatal("a Redial whose ctx had ended kept waiting for another caller's reconnect")
	}
	select {
	case err := <-first:
		t.Fatalf("the first Redial ended (%v) when the second gave up; it should dial on", err)
	default:
	}
	stopFirst()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first Redial after its ctx ended = %v, want context.Canceled", err)
	}
}

// TestRedialCapsItsBackoff: a client dialed with long backoffs waits at
// most RedialMaxBackoff between Redial's attempts, so a host that comes
// back is reached soon after. The waits are recorded, not slept.
func TestRedialCapsItsBackoff(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.InitialBackoff = time.Hour
	o.MaxBackoff = time.Hour
	var waits []time.Duration
	stop := errors.New("test: enough attempts")
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		if len(waits) == 4 {
			return stop
		}
		return nil
	}
	c := lostClient(t, f, o)
	if fresh, err := c.Redial(testContext(t)); fresh != nil || err == nil {
		t.Fatalf("Redial to a stopped host = %v, %v; want an error", fresh, err)
	}
	if len(waits) != 4 {
		t.Fatalf("Redial waited %d times (%v), want 4: the test's sleep ends it at the fourth", len(waits), waits)
	}
	for i, d := range waits {
		if d <= 0 || d > RedialMaxBackoff {
			t.Errorf("wait %d before a redial attempt = %v, want in (0, %v]", i+1, d, RedialMaxBackoff)
		}
	}
}

// TestRedialOneHandshake: a host that presents another key is refused at
// the first handshake: Redial does not spend the dial's HandshakeBudget
// knocking on a machine that is not the one it is for. Each attempt after
// the first follows a wait; there is none.
func TestRedialOneHandshake(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.HandshakeBudget = 5
	var waits atomic.Int32
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		waits.Add(1)
		return nil
	}
	c := f.dial(t, o)
	f.replaceHost(t, c, nil)
	fresh, err := c.Redial(testContext(t))
	if fresh != nil || !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("Redial to a host with another key = %v, %v; want ErrHostKeyMismatch", fresh, err)
	}
	if n := waits.Load(); n != 0 {
		t.Errorf("Redial made %d more attempts after the host key mismatched, want none", n)
	}
	if !strings.Contains(err.Error(), "after 1 failed handshakes") {
		t.Errorf("Redial error %q: want it refused after 1 failed handshake", err)
	}
}

// RedialLimit's default is the 30 s the cleanups after a lost connection
// are promised (DialOptions): a host back within it is reconnected, one
// not is given up on before the teardown budget is.
func TestRedialLimitDefault(t *testing.T) {
	if got := (DialOptions{}).withDefaults().RedialLimit; got != 30*time.Second {
		t.Errorf("default RedialLimit = %v, want 30s", got)
	}
	if got := (DialOptions{RedialLimit: time.Second}).withDefaults().RedialLimit; got != time.Second {
		t.Errorf("withDefaults overrode RedialLimit 1s with %v", got)
	}
}

// TestLostNamesTheKeepaliveNotEOF: a host that stops answering (its sshd
// frozen) is closed by the keepalive; Lost then says why the connection
// was closed, not the EOF the transport saw when we closed it.
func TestLostNamesTheKeepaliveNotEOF(t *testing.T) {
	f := newFixture(t)
	o := fast()
	// Ten missed 100ms intervals: a second of slack for a loaded
	// machine's live host before the freeze.
	o.Keepalive = 100 * time.Millisecond
	o.KeepaliveMaxMissed = 10
	c := f.dial(t, o)
	freezeServer(t, c)
	select {
	case <-c.dead:
	case <-time.After(guard):
		t.Fatal("the keepalive did not close the connection to a frozen host")
	}
	var lost *LostError
	if err := c.Lost(); !errors.As(err, &lost) {
		t.Fatalf("Lost() after the keepalive closed the connection = %v, want a *LostError", err)
	}
	if !errors.Is(lost.Cause, ErrKeepalive) {
		t.Errorf("LostError.Cause = %v, want the keepalive's reason (ErrKeepalive)", lost.Cause)
	}
	if errors.Is(lost.Cause, io.EOF) || strings.Contains(lost.Error(), "EOF") {
		t.Errorf("Lost() = %q: names the transport's EOF, not why the client closed it", lost)
	}
}

// writeFailConn is a connection whose writes fail once broken is set,
// while reads go on: a keepalive sent on it fails but the transport does
// not end (its reader still waits for the host).
type writeFailConn struct {
	net.Conn
	broken  atomic.Bool
	refused chan struct{} // closed at the first refused write
	once    sync.Once
}

func (c *writeFailConn) Write(p []byte) (int, error) {
	if c.broken.Load() {
		c.once.Do(func() { close(c.refused) })
		return 0, errors.New("test: write refused")
	}
	return c.Conn.Write(p)
}

// TestSettleAfterAFailedKeepaliveStopsAtCtx: settle's keepalive fails but
// the connection has not ended (writes fail, the reader is still open);
// settle then waits for the end no longer than ctx: with KillGrace an
// hour, it returns ctx's error once ctx is cancelled.
func TestSettleAfterAFailedKeepaliveStopsAtCtx(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.Keepalive = -1 // only settle sends a request
	o.KillGrace = time.Hour
	o = o.withDefaults()
	target := f.target()
	cfg, err := clientConfig(target, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", target.hostPort())
	if err != nil {
		t.Fatal(err)
	}
	conn := &writeFailConn{Conn: raw, refused: make(chan struct{})}
	sc, chans, reqs, err := ssh.NewClientConn(conn, target.hostPort(), cfg)
	if err != nil {
		raw.Close()
		t.Fatalf("SSH handshake: %v", err)
	}
	c := newClient(ssh.NewClient(sc, chans, reqs), target, nil, o)
	t.Cleanup(func() { c.Close() })
	if _, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatalf("keepalive before breaking writes: %v", err)
	}

	conn.broken.Store(true)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	go func() {
		// Cancel after the keepalive has failed, so settle is past the
		// request and waiting for the connection's end. How soon after
		// does not matter for passing: only for reaching that wait first.
		<-conn.refused
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	type settled struct{ lost, gaveUp error }
	got := make(chan settled, 1)
	go func() {
		lost, gaveUp := c.settle(ctx, c.opts.KillGrace)
		got <- settled{lost, gaveUp}
	}()
	select {
	case s := <-got:
		if s.lost != nil || !errors.Is(s.gaveUp, context.Canceled) {
			t.Errorf("settle after a failed keepalive and a cancelled ctx = %v, %v; want nil and context.Canceled", s.lost, s.gaveUp)
		}
	case <-time.After(guard):
		t.Fatal("settle kept waiting after its ctx was cancelled")
	}
	select {
	case <-c.dead:
		t.Error("the connection ended: the test needs one whose keepalive failed while its transport is still open")
	default:
	}
}
