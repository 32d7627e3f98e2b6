package remote

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// insecureTarget is f's target without a pinned host key, as the
// insecure-host-key input dials.
func (f *fixture) insecureTarget() Target {
	t := f.target()
	t.HostKey = ""
	t.Insecure = true
	return t
}

// replaceHost stops f's host after dropping c's connection and starts
// another sshd on the same address and port, with host key hostKeyPEM
// (nil: a fresh one) and the same users, as a reused address or a
// reinstalled machine would answer a reconnect.
func (f *fixture) replaceHost(t *testing.T, c *Client, hostKeyPEM []byte) *testhost.Host {
	t.Helper()
	done := startDroppable(t, c)
	if _, err := f.host.DropConnections(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; !errors.Is(r.err, ErrConnectionLost) {
		t.Fatalf("Run on the dropped connection: %v, want ErrConnectionLost", r.err)
	}
	addr, port := f.host.Addr(), f.host.Port()
	if err := f.host.Stop(testContext(t)); err != nil {
		t.Fatalf("stop the first host: %v", err)
	}
	return testhost.Start(t, testhost.Options{
		Addr: addr, Port: port, HostKeyPEM: hostKeyPEM,
		Users: []testhost.User{
			{Name: f.login, AuthorizedKeys: []string{f.keys.ClientAuthorized}, Sudo: true},
			{Name: f.other},
		},
	})
}

// TestRedialInsecureRefusesAnotherHostKey: a connection made under
// insecure-host-key (any key accepted) is lost, and another machine, with
// another host key, now answers at its address. Redial must refuse it,
// naming the key first accepted and the one presented, since the cleanups
// it is for run as root; and a later call must not try again.
func TestRedialInsecureRefusesAnotherHostKey(t *testing.T) {
	f := newFixture(t)
	c, err := Dial(testContext(t), f.insecureTarget(), fast())
	if err != nil {
		t.Fatalf("Dial with insecure-host-key: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	other := f.replaceHost(t, c, nil)
	if other.HostKey() == f.keys.HostPublic {
		t.Fatal("the replacement host has the first host's key; the test needs another")
	}

	fresh, err := c.Redial(testContext(t))
	if fresh != nil || err == nil {
		if fresh != nil {
			fresh.Close()
		}
		t.Fatalf("Redial to another machine at the address = %p, %v; want a host key mismatch", fresh, err)
	}
	if !errors.Is(err, ErrHostKeyMismatch) || !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Redial error %q: want it to wrap ErrHostKeyMismatch and ErrConnectionLost", err)
	}
	first, ferr := Fingerprint(f.keys.HostPublic)
	if ferr != nil {
		t.Fatal(ferr)
	}
	presented, perr := Fingerprint(other.HostKey())
	if perr != nil {
		t.Fatal(perr)
	}
	for _, want := range []string{"expected " + first, "presented " + presented, "insecure-host-key", "reconnecting failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Redial error %q does not say %q", err, want)
		}
	}
	if _, again := c.Redial(testContext(t)); again != err {
		t.Errorf("second Redial = %v; want the first call's refusal", again)
	}
}

// TestRedialInsecureReachesTheSameHostAgain: the same machine (same host
// key) back at the address after the loss is reconnected to, with the
// key pinned from the first connection.
func TestRedialInsecureReachesTheSameHostAgain(t *testing.T) {
	f := newFixture(t)
	c, err := Dial(testContext(t), f.insecureTarget(), fast())
	if err != nil {
		t.Fatalf("Dial with insecure-host-key: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	f.replaceHost(t, c, f.keys.HostPrivatePEM)

	fresh, err := c.Redial(testContext(t))
	if err != nil {
		t.Fatalf("Redial to the same machine: %v", err)
	}
	defer fresh.Close()
	pinned, perr := ParseAuthorizedKey("host key", fresh.Target().HostKey)
	want, werr := ParseAuthorizedKey("host key", f.keys.HostPublic)
	if perr != nil || werr != nil || ssh.FingerprintSHA256(pinned) != ssh.FingerprintSHA256(want) {
		t.Errorf("redialed target pins %q (%v), want the first connection's key %q", fresh.Target().HostKey, perr, f.keys.HostPublic)
	}
	res := run(t, fresh, RunSpec{Command: "id -un"})
	if got := strings.TrimSpace(string(res.Output)); !res.OK() || got != f.login {
		t.Errorf("command over the redialed connection: %+v (%q)", res, got)
	}
}

// TestRedialAfterCancelledCtxTriesAgain: a Redial whose caller's ctx has
// ended (the collect phase's budget spent) fails with ctx's error but is
// not remembered: a later caller with time left reconnects.
func TestRedialAfterCancelledCtxTriesAgain(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	done := startDroppable(t, c)
	if _, err := f.host.DropConnections(); err != nil {
		t.Fatal(err)
	}
	<-done

	ended, cancel := context.WithCancel(testContext(t))
	cancel()
	if fresh, err := c.Redial(ended); fresh != nil || !errors.Is(err, context.Canceled) || !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Redial with a cancelled ctx = %v, %v; want the lost connection and context.Canceled", fresh, err)
	}
	fresh, err := c.Redial(testContext(t))
	if err != nil {
		t.Fatalf("Redial with a live ctx after a cancelled one: %v", err)
	}
	defer fresh.Close()
	if again, err := c.Redial(testContext(t)); again != fresh || err != nil {
		t.Errorf("Redial after the reconnect = %p, %v; want the same client %p", again, err, fresh)
	}
	if res := run(t, fresh, RunSpec{Command: "true"}); !res.OK() {
		t.Errorf("command over the redialed connection: %+v", res)
	}
}

// TestRedialCtxEndedMidDialThenHostBack: the first Redial runs while the
// host is down and its caller's ctx ends mid-attempts; the host comes
// back (same key), and the next caller reconnects.
func TestRedialCtxEndedMidDialThenHostBack(t *testing.T) {
	f := newFixture(t)
	ctx, giveUp := context.WithCancel(testContext(t))
	defer giveUp()
	attempts := 0
	o := fast()
	o.Sleep = func(sctx context.Context, d time.Duration) error {
		attempts++
		if attempts == 2 {
			giveUp() // the first caller's budget runs out
		}
		return waits.Sleep(sctx, d)
	}
	c := f.dial(t, o)
	done := startDroppable(t, c)
	if _, err := f.host.DropConnections(); err != nil {
		t.Fatal(err)
	}
	<-done
	addr, port := f.host.Addr(), f.host.Port()
	if err := f.host.Stop(testContext(t)); err != nil {
		t.Fatalf("stop the host: %v", err)
	}
	if fresh, err := c.Redial(ctx); fresh != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Redial to a stopped host whose ctx ends = %v, %v; want context.Canceled", fresh, err)
	}
	testhost.Start(t, testhost.Options{
		Addr: addr, Port: port, HostKeyPEM: f.keys.HostPrivatePEM,
		Users: []testhost.User{{Name: f.login, AuthorizedKeys: []string{f.keys.ClientAuthorized}, Sudo: true}},
	})
	fresh, err := c.Redial(testContext(t))
	if err != nil {
		t.Fatalf("Redial once the host is back, with a live ctx: %v", err)
	}
	defer fresh.Close()
	if res := run(t, fresh, RunSpec{Command: "true"}); !res.OK() {
		t.Errorf("command over the redialed connection: %+v", res)
	}
}

// TestRedialBoundsDialsEndedByCtx: dials that their callers' ctx ended are
// retried by later callers only up to maxRedials; then the last failure is
// what every caller gets, without dialing.
func TestRedialBoundsDialsEndedByCtx(t *testing.T) {
	f := newFixture(t)
	var cancelCall context.CancelFunc
	attempts := 0
	o := fast()
	o.Sleep = func(sctx context.Context, d time.Duration) error {
		attempts++
		cancelCall() // each caller's budget runs out at its first wait
		return waits.Sleep(sctx, d)
	}
	c := f.dial(t, o)
	done := startDroppable(t, c)
	if _, err := f.host.DropConnections(); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := f.host.Stop(testContext(t)); err != nil {
		t.Fatalf("stop the host: %v", err)
	}
	var last error
	for i := range maxRedials {
		var ctx context.Context
		ctx, cancelCall = context.WithCancel(testContext(t))
		before := attempts
		_, err := c.Redial(ctx)
		cancelCall()
		if !errors.Is(err, context.Canceled) || attempts == before {
			t.Fatalf("Redial %d with a ctx that ends while dialing: %v after %d waits; want it to dial and fail with context.Canceled", i+1, err, attempts-before)
		}
		last = err
	}
	before := attempts
	cancelCall = func() {}
	if _, err := c.Redial(testContext(t)); err != last || attempts != before {
		t.Errorf("Redial after %d dials ended by ctx = %v after %d waits; want the last failure %v, without dialing", maxRedials, err, attempts-before, last)
	}
}

// TestSettleOnFrozenHostStopsAtCtx: after a transport error on a host that
// answers nothing (its sshd frozen), settle waits for the connection's end
// or a keepalive's answer no longer than ctx: with KillGrace an hour, it
// returns ctx's deadline error, and the transport error built from it
// wraps both the transport's error and ctx's.
func TestSettleOnFrozenHostStopsAtCtx(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.Keepalive = -1 // nothing but settle may notice the frozen host
	o.KillGrace = time.Hour
	c := f.dial(t, o)
	freezeServer(t, c)

	type settled struct{ lost, gaveUp error }
	ctx, cancel := context.WithTimeout(testContext(t), 200*time.Millisecond)
	defer cancel()
	got := make(chan settled, 1)
	go func() {
		lost, gaveUp := c.settle(ctx, c.opts.KillGrace)
		got <- settled{lost, gaveUp}
	}()
	var s settled
	select {
	case s = <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("settle has not returned 30 s after its ctx's deadline on a frozen host: it waits KillGrace (%s) past ctx", o.KillGrace)
	}
	if s.lost != nil || !errors.Is(s.gaveUp, context.DeadlineExceeded) {
		t.Errorf("settle on a frozen host = %v, %v; want no loss and ctx's context.DeadlineExceeded", s.lost, s.gaveUp)
	}

	err := c.transportErr(ctx, "run \"true\"", io.EOF)
	if !errors.Is(err, io.EOF) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrConnectionLost) {
		t.Errorf("transportErr after ctx's deadline = %v; want it to wrap io.EOF and context.DeadlineExceeded, not a loss", err)
	}
	if !strings.Contains(err.Error(), "stopped waiting for the host to answer") {
		t.Errorf("transportErr = %q; want it to say the wait for the host was cut short", err)
	}
}
