package fake

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// An instance's public address is not its test host's: it is a front the
// fake listens on, which lets a connection through to the host's sshd only
// when one of the instance's security groups allows tcp/22 from the
// client's address, as EC2's network does. A connection the groups do not
// allow is accepted and never answered: EC2 drops the packets, so the
// client sees a connect or handshake that never finishes, and no refusal.
// The groups are read at each connection, so a rule added after launch
// lets the next connection in, as it does on EC2.

// DefaultClientAddr is the address the fake takes connections to its
// instances to come from, unless Config.ClientAddr or SetClientAddr says
// otherwise: the tests connect from this machine's loopback, and tell the
// adapter to open 127.0.0.1/32.
const DefaultClientAddr = "127.0.0.1"

// SetClientAddr sets the address the fake takes connections to its
// instances' public addresses to come from. Every test connection comes
// over loopback whatever runner address it stands for, so the fake checks
// the security groups against this address rather than the socket's.
func (s *Server) SetClientAddr(addr string) error {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("client address %q: expected an IP address such as 127.0.0.1: %w", addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientAddr = a
	return nil
}

func (s *Server) client() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientAddr
}

// sshPort is the port the instance's sshd has in EC2's terms, whatever
// port its test host listens on.
const sshPort = 22

// sshAllowed reports whether the security groups of instance id let the
// client reach its sshd: a rule for tcp (or all traffic) covering port 22
// from a range holding the client's address. The VPC's default group,
// which EC2 gives a launch naming none, lets in only its own members, so
// never the client.
func (s *Server) sshAllowed(id string) bool {
	in, ok := s.instances.Get(id)
	if !ok || in.State != "running" {
		return false
	}
	from := s.client()
	groups := in.Groups
	if n, ok := s.ifaces.Get(in.InterfaceID); ok {
		groups = n.Groups
	}
	for _, gid := range groups {
		g, ok := s.groups.Get(gid)
		if !ok {
			continue
		}
		for _, r := range g.Ingress {
			if r.Protocol != "-1" && (r.Protocol != "tcp" || r.From > sshPort || r.To < sshPort) {
				continue
			}
			if p, err := netip.ParsePrefix(r.CIDR); err == nil && p.Contains(from) {
				return true
			}
		}
	}
	return false
}

// front is one instance's public address.
type front struct {
	ln      net.Listener
	backend string // host:port of the instance's sshd
	allowed func() bool

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// openFront listens for instance id on a free loopback address at port
// (the test host's, so the address and port the fake reports lead here)
// and serves until closed.
func (s *Server) openFront(id, backend string, port int) (*front, error) {
	ln, err := listenLoopback(port)
	if err != nil {
		return nil, err
	}
	f := &front{ln: ln, backend: backend, allowed: func() bool { return s.sshAllowed(id) }, conns: map[net.Conn]bool{}}
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

// addr is the front's IP address: the instance's public IP.
func (f *front) addr() string {
	return f.ln.Addr().(*net.TCPAddr).IP.String()
}

func (f *front) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
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

// pass joins c to the instance's sshd until either side ends.
func (f *front) pass(c net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := (&net.Dialer{}).DialContext(ctx, "tcp", f.backend)
	if err != nil {
		// The host is down: as on EC2, the port is closed.
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

// close stops the listener and ends every connection through it.
func (f *front) close() {
	f.mu.Lock()
	f.closed = true
	conns := make([]net.Conn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	f.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	f.wg.Wait()
}

// setFront records instance id's front, closing any it had.
func (s *Server) setFront(id string, f *front) {
	s.mu.Lock()
	old := s.fronts[id]
	s.fronts[id] = f
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
}

// closeFront closes instance id's front: a terminated instance has no
// public address.
func (s *Server) closeFront(id string) {
	s.mu.Lock()
	f := s.fronts[id]
	delete(s.fronts, id)
	s.mu.Unlock()
	if f != nil {
		f.close()
	}
}

// closeFronts closes every front, when the fake stops.
func (s *Server) closeFronts() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.fronts))
	for id := range s.fronts {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		s.closeFront(id)
	}
}
