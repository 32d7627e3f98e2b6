package fakecloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// An instance's public address is not its machine's: it is a front the
// kit listens on, which lets a connection through to the machine only
// when the fake's firewall (SetFirewall: the cloud's security groups or
// firewall rules) allows the client's address, as the cloud's network
// does. A connection the firewall does not allow is accepted and never
// answered: clouds drop the packets, so the client sees a connect or
// handshake that never finishes, and no refusal. The firewall is asked at
// each connection, so a rule added after launch lets the next one in.

// DefaultClientAddr is the address the kit takes connections to its
// instances to come from, unless SetClientAddr says otherwise: the tests
// connect from this machine's loopback, and tell the adapter to open
// 127.0.0.1/32.
const DefaultClientAddr = "127.0.0.1"

// Firewall says whether instance id's firewall lets client reach its sshd
// (tcp/22 in the cloud's terms).
type Firewall func(id string, client netip.Addr) bool

// SetFirewall puts every instance booted from now on behind a front that
// lets a connection through only when fw allows it: running is then
// called with a Machine whose Addr and Port are the front's, the
// instance's public address. A provider's fake sets it before its first
// boot; the conformance scenarios (providertest) fail a fake that hands
// out an address its firewall does not guard.
func (k *Kit) SetFirewall(fw Firewall) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.firewall = fw
}

// SetClientAddr sets the address the kit takes connections to its
// instances' public addresses to come from. Every test connection comes
// over loopback whatever runner address it stands for, so the firewall is
// asked about this address rather than the socket's.
func (k *Kit) SetClientAddr(addr string) error {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("client address %q: expected an IP address such as 127.0.0.1: %w", addr, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.clientAddr = a
	return nil
}

// ClientAddr is the address connections to instances come from.
func (k *Kit) ClientAddr() netip.Addr {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.clientAddr
}

// PublicAddr is instance id's public address and port, while it has one
// (booted behind a firewall, not halted).
func (k *Kit) PublicAddr(id string) (addr string, port int, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.fronts[id]
	if f == nil {
		return "", 0, false
	}
	return f.Addr(), f.Port(), true
}

// CloseFront closes instance id's public address, if it has one: a
// fake whose instance ends without Halt (or must lose its address before
// it reads as ended) calls it. Halt closes it too.
func (k *Kit) CloseFront(id string) {
	k.mu.Lock()
	f := k.fronts[id]
	delete(k.fronts, id)
	k.mu.Unlock()
	if f != nil {
		f.close()
	}
}

// public is a machine as the world sees it: at its front's address, which
// leads to the machine inside.
type public struct {
	Machine
	f *front
}

func (p public) Addr() string { return p.f.Addr() }
func (p public) Port() int    { return p.f.Port() }

// front is one instance's public address.
type front struct {
	ln      net.Listener
	backend string // host:port of the machine's sshd
	allowed func() bool
	log     func(msg string, args ...any)
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)

	ctx    context.Context // cancelled by close: ends dials in progress
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// openFront listens for instance id at a free loopback address on m's
// port (so the address and port the fake reports lead here) and serves
// until closed.
func (k *Kit) openFront(id string, m Machine, fw Firewall) (*front, error) {
	ln, err := listenLoopback(m.Port())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &front{
		ln: ln, backend: net.JoinHostPort(m.Addr(), strconv.Itoa(m.Port())),
		allowed: func() bool { return fw(id, k.ClientAddr()) },
		log:     func(msg string, args ...any) { k.log.Warn(msg, append([]any{"id", id}, args...)...) },
		dial:    (&net.Dialer{}).DialContext, ctx: ctx, cancel: cancel, conns: map[net.Conn]bool{},
	}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// listenLoopback listens at port on a random address in 127.0.0.0/8,
// avoiding 127.0.0.1 and the .0 and .255 of each /24, which others use.
func listenLoopback(port int) (net.Listener, error) {
	var last error
	for range 64 {
		addr := fmt.Sprintf("127.%d.%d.%d", rand.IntN(254)+1, rand.IntN(256), rand.IntN(253)+2)
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err == nil {
			return ln, nil
		}
		last = err
	}
	return nil, fmt.Errorf("listen on a loopback address at port %d: %w", port, last)
}

// Addr is the front's IP address: the instance's public IP.
func (f *front) Addr() string { return f.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the front's port, the machine's.
func (f *front) Port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// acceptRetry is how long serve waits after an Accept error that is not
// the listener closing (too many open files, a connection aborted before
// it was accepted), so it does not spin while the error lasts.
const acceptRetry = 10 * time.Millisecond

func (f *front) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || f.isClosed() {
				return
			}
			// A passing error: the address must keep answering, as a
			// cloud's does.
			f.log("fake: accept on a public address", "err", err)
			select {
			case <-f.ctx.Done():
				return
			case <-time.After(acceptRetry):
			}
			continue
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.untrack(c)
			if f.allowed() {
				f.pass(c)
				return
			}
			// Dropped: read what the client sends and answer nothing,
			// until it gives up or the front closes.
			io.Copy(io.Discard, c) //nolint:errcheck // ends when either side closes
		}()
	}
}

// pass joins c to the machine's sshd until either side ends. The dial
// ends when the front closes, so close never waits on it.
func (f *front) pass(c net.Conn) {
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	b, err := f.dial(ctx, "tcp", f.backend)
	if err != nil {
		// The host is down: as on a cloud, the port is closed.
		return
	}
	if !f.track(b) {
		b.Close()
		return
	}
	defer f.untrack(b)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src) //nolint:errcheck // ends when either side closes
		done <- struct{}{}
	}
	go cp(b, c)
	go cp(c, b)
	<-done
	// One side ended: end the other, so the second copy returns too.
	c.Close()
	b.Close()
	<-done
}

func (f *front) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *front) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = true
	return true
}

func (f *front) untrack(c net.Conn) {
	c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// close stops the listener, ends every connection through it and any
// dial in progress, and waits for them.
func (f *front) close() {
	f.mu.Lock()
	f.closed = true
	conns := make([]net.Conn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	f.cancel()
	f.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	f.wg.Wait()
}
