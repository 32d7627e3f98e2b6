package remote

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestKeepaliveToleratesLateReplies reaches the host through a proxy that
// holds everything the host sends for 1.5 keepalive intervals: every reply
// misses one interval and arrives before the next. A late reply is still a
// reply, so however many of them come, the connection of this slow but
// healthy host stays up; only maxMissed intervals in a row without one may
// close it.
func TestKeepaliveToleratesLateReplies(t *testing.T) {
	f := newFixture(t)
	const (
		interval  = 250 * time.Millisecond // leaves a loaded machine 1.6 s of slack before 8 missed
		maxMissed = 8
	)
	p := newDelayProxy(t, f.host.Addr()+":"+strconv.Itoa(f.host.Port()), 3*interval/2)
	tgt := f.target()
	tgt.Addr, tgt.Port = p.host, p.port
	o := fast()
	o.Keepalive, o.KeepaliveMaxMissed = interval, maxMissed
	c, err := Dial(testContext(t), tgt, o)
	if err != nil {
		t.Fatalf("Dial through the proxy: %v", err)
	}
	defer c.Close()
	closed := make(chan error, 1)
	go func() { closed <- c.ssh.Wait() }()

	// Nothing else is sent on the idle connection, so what the client
	// sends now are keepalives, each in one write. Each one was answered
	// late; wait for well more than maxMissed of them.
	p.clientWrites.Drain()
	const want = 2*maxMissed + 2
	for n := 0; n < want; n++ {
		select {
		case <-p.clientWrites.C:
		case err := <-closed:
			t.Fatalf("the connection closed after %d keepalives, each answered within 2 intervals: %v (Err: %v); a late reply must reset the count of missed intervals", n, err, c.Err())
		}
	}
	if err := c.Err(); err != nil {
		t.Fatalf("after %d late keepalive replies: Err() = %v, want nil", want, err)
	}
	if res := run(t, c, RunSpec{Command: "echo still here"}); string(res.Output) != "still here\n" {
		t.Errorf("after the late replies: %q", res.Output)
	}
}

// delayProxy forwards one loopback TCP connection to a target, passing on
// what the client sends at once and what the target sends after a delay,
// and signals each of the client's writes.
type delayProxy struct {
	host         string
	port         int
	clientWrites signal
}

// signal counts events on a buffered channel.
type signal struct{ C chan struct{} }

func (s signal) notify() {
	select {
	case s.C <- struct{}{}:
	default:
	}
}

// Drain forgets the events so far.
func (s signal) Drain() {
	for {
		select {
		case <-s.C:
		default:
			return
		}
	}
}

func newDelayProxy(t *testing.T, target string, delay time.Duration) *delayProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	p := &delayProxy{host: addr.IP.String(), port: addr.Port, clientWrites: signal{make(chan struct{}, 1024)}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				t.Errorf("proxy dial %s: %v", target, err)
				return
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			wg.Add(2)
			go func() {
				defer wg.Done()
				p.forward(server, client)
			}()
			go func() {
				defer wg.Done()
				delayed(client, server, delay)
			}()
		}
	}()
	return p
}

// forward copies client to server, signalling each read.
func (p *delayProxy) forward(server, client net.Conn) {
	defer server.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			p.clientWrites.notify()
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// delayed copies server to client, each chunk delay after it was read, in
// order: latency without a cap on throughput.
func delayed(client, server net.Conn, delay time.Duration) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	chunks := make(chan chunk, 1024)
	go func() {
		defer close(chunks)
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				chunks <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	defer client.Close()
	for c := range chunks {
		time.Sleep(time.Until(c.at))
		if _, err := client.Write(c.b); err != nil {
			// Keep reading so the reader above ends with its server.
			go func() {
				for range chunks {
				}
			}()
			return
		}
	}
}
