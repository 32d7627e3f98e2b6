package fakecloud

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// bannerHost is a machine whose "sshd" sends a banner to each connection
// and counts them.
type bannerHost struct {
	ln       net.Listener
	accepted atomic.Int32
}

func (m *bannerHost) Addr() string               { return "127.0.0.1" }
func (m *bannerHost) Port() int                  { return m.ln.Addr().(*net.TCPAddr).Port }
func (m *bannerHost) Stop(context.Context) error { return m.ln.Close() }

func newBannerHost(t *testing.T) *bannerHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &bannerHost{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			m.accepted.Add(1)
			io.WriteString(c, "SSH-2.0-banner\r\n")           //nolint:errcheck // the test reads it or not
			go func() { io.Copy(io.Discard, c); c.Close() }() //nolint:errcheck // until the client goes
		}
	}()
	return m
}

// readBanner connects to addr:port and returns what arrives within wait.
func readBanner(t *testing.T, addr string, port int, wait time.Duration) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), 10*time.Second)
	if err != nil {
		t.Fatalf("connect to %s:%d: %v", addr, port, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(wait)) //nolint:errcheck // a net.Conn
	b := make([]byte, 64)
	n, err := c.Read(b)
	if n == 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from %s:%d: %v, want a banner or nothing", addr, port, err)
	}
	return string(b[:n])
}

// TestFirewallGuardsThePublicAddress: with a firewall set, the machine a
// fake's running callback gets is at a public address of its own, which
// lets a connection through only when the firewall allows the client
// address (asked anew at each connection); Halt closes it.
func TestFirewallGuardsThePublicAddress(t *testing.T) {
	host := newBannerHost(t)
	k := New(BooterFunc(func(context.Context, BootSpec) (Machine, error) { return host, nil }), nil)
	defer k.Close(context.Background()) //nolint:errcheck // test end
	allow := netip.MustParseAddr("203.0.113.7")
	var asked atomic.Value
	k.SetFirewall(func(id string, client netip.Addr) bool {
		asked.Store(id)
		return client == allow
	})
	running := make(chan Machine, 1)
	k.Boot("i-1", nil, func(m Machine) { running <- m }, func(err error) { t.Errorf("boot failed: %v", err) })
	m := <-running
	if m.Addr() == host.Addr() || m.Port() != host.Port() {
		t.Fatalf("running got %s:%d; want a public address of its own at the host's port %d", m.Addr(), m.Port(), host.Port())
	}
	if a, p, ok := k.PublicAddr("i-1"); !ok || a != m.Addr() || p != m.Port() {
		t.Errorf("PublicAddr = %s:%d %v, want %s:%d", a, p, ok, m.Addr(), m.Port())
	}
	if got := readBanner(t, m.Addr(), m.Port(), 300*time.Millisecond); got != "" || host.accepted.Load() != 0 {
		t.Fatalf("from %s, which the firewall does not allow: got %q, the host saw %d connections", k.ClientAddr(), got, host.accepted.Load())
	}
	if asked.Load() != "i-1" {
		t.Errorf("the firewall was asked about %v, want i-1", asked.Load())
	}
	if err := k.SetClientAddr(allow.String()); err != nil {
		t.Fatal(err)
	}
	if got := readBanner(t, m.Addr(), m.Port(), 30*time.Second); got != "SSH-2.0-banner\r\n" {
		t.Fatalf("from %s, which the firewall allows: got %q, want the banner", allow, got)
	}
	if err := k.SetClientAddr("not-an-ip"); err == nil {
		t.Error("SetClientAddr took not-an-ip")
	}
	if err := k.Halt(context.Background(), "i-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := k.PublicAddr("i-1"); ok {
		t.Error("a halted instance still has a public address")
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(m.Addr(), strconv.Itoa(m.Port())), 5*time.Second); err == nil {
		c.Close()
		t.Error("the halted instance's public address still accepts connections")
	}
}

// TestNoPublicAddressFailsTheBoot: a machine whose public address cannot
// be opened is reported failed, not running, and Halt still stops it.
func TestNoPublicAddressFailsTheBoot(t *testing.T) {
	var stopped atomic.Bool
	k := New(BooterFunc(func(context.Context, BootSpec) (Machine, error) { return badPort{&stopped}, nil }), nil)
	defer k.Close(context.Background()) //nolint:errcheck // test end
	k.SetFirewall(func(string, netip.Addr) bool { return true })
	failed := make(chan error, 1)
	k.Boot("i-1", nil, func(Machine) { t.Error("reported running without a public address") }, func(err error) { failed <- err })
	if err := <-failed; err == nil {
		t.Fatal("nil error")
	}
	if err := k.Halt(context.Background(), "i-1"); err != nil {
		t.Fatal(err)
	}
	if !stopped.Load() {
		t.Error("Halt did not stop the machine that got no public address")
	}
}

type badPort struct{ stopped *atomic.Bool }

func (m badPort) Addr() string { return "127.0.0.1" }
func (m badPort) Port() int    { return 70000 }
func (m badPort) Stop(context.Context) error {
	m.stopped.Store(true)
	return nil
}

// flakyListener fails its first Accept with an error that is not about
// closing (the process is out of file descriptors), then accepts.
type flakyListener struct {
	net.Listener
	failed atomic.Bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failed.CompareAndSwap(false, true) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// testFront is a front on ln to backend that lets everything through.
func testFront(ln net.Listener, backend string) *front {
	ctx, cancel := context.WithCancel(context.Background())
	f := &front{ln: ln, backend: backend, allowed: func() bool { return true }, log: func(string, ...any) {},
		dial: (&net.Dialer{}).DialContext, ctx: ctx, cancel: cancel, conns: map[net.Conn]bool{}}
	return f
}

// TestFrontOutlivesAcceptErrors: an Accept error that is not the listener
// closing does not close the public address: the next connection gets
// through.
func TestFrontOutlivesAcceptErrors(t *testing.T) {
	host := newBannerHost(t)
	defer host.Stop(context.Background()) //nolint:errcheck // test end
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	f := testFront(fl, net.JoinHostPort(host.Addr(), strconv.Itoa(host.Port())))
	f.wg.Add(1)
	go f.serve()
	defer f.close()
	if got := readBanner(t, "127.0.0.1", ln.Addr().(*net.TCPAddr).Port, 30*time.Second); got != "SSH-2.0-banner\r\n" {
		t.Fatalf("after an accept error: got %q, want the banner", got)
	}
	if !fl.failed.Load() {
		t.Fatal("setup: the accept error was never returned")
	}
}

// TestFrontCloseEndsDials: closing the public address ends a connection's
// dial to the host in progress, rather than waiting for its own timeout.
func TestFrontCloseEndsDials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := testFront(ln, "127.0.0.1:1")
	dialing := make(chan struct{})
	ended := make(chan error, 1)
	f.dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		close(dialing)
		<-ctx.Done() // a host that never answers
		ended <- ctx.Err()
		return nil, ctx.Err()
	}
	f.wg.Add(1)
	go f.serve()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-dialing
	f.close()
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the dial ended with %v, want cancelled by close", err)
	}
}
