package remote

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDialFailedHandshakesCloseTheirSockets dials a host that presents
// another key than the pinned one, many times: each refused handshake must
// close its socket, or a leg retrying a wrong host runs out of descriptors.
func TestDialFailedHandshakesCloseTheirSockets(t *testing.T) {
	f := newFixture(t)
	impostor, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	tgt := f.target()
	tgt.HostKey = impostor.HostPublic
	o := fast()
	o.HandshakeBudget = 1 // one handshake per Dial
	refuse := func() {
		t.Helper()
		if c, err := Dial(testContext(t), tgt, o); !errors.Is(err, ErrHostKeyMismatch) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("Dial with the wrong host key: err = %v, want ErrHostKeyMismatch", err)
		}
	}
	refuse() // whatever the first dial sets up once (the poller) is not a leak
	before := openFDs(t)
	const n = 20
	for range n {
		refuse()
	}
	if after := openFDs(t); after-before >= n/2 {
		t.Errorf("%d open descriptors before %d refused handshakes, %d after: a failed handshake leaves its socket open", before, n, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestSessionOpenedAfterGiveUpIsClosed gives up on session opens while the
// host is frozen, more of them than sshd allows per connection (MaxSessions,
// 10 by default), then thaws it: the sessions the host opens afterwards for
// callers that are gone must be closed, or they hold the connection's
// sessions and every later command on it is refused.
func TestSessionOpenedAfterGiveUpIsClosed(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.Keepalive = -1 // the freeze must not close the connection
	c := f.dial(t, o)
	thaw := freezeServer(t, c)
	gone, cancel := context.WithCancel(testContext(t))
	cancel()
	abandon := func() {
		t.Helper()
		// The frozen host cannot have answered, so newSession gives up
		// on the ended ctx and leaves the open to its goroutine.
		if s, err := c.newSession(gone); err == nil {
			s.Close()
			t.Fatal("a frozen host opened a session")
		}
	}
	// The opens are sent from goroutines: wait until the host's socket
	// holds all of them, so that the host handles them before the command
	// below asks for a session. Each open is one packet of the same size.
	queued := func() int { return serverQueued(t, c) }
	start := queued()
	abandon()
	one := waitQueued(t, queued, func(q int) bool { return q > start }) - start
	const n = 12
	for range n - 1 {
		abandon()
	}
	waitQueued(t, queued, func(q int) bool { return q >= start+n*one })
	thaw()
	// The abandoned opens complete and are closed in goroutines of their
	// own; until they are, sshd may refuse a new session, so retry.
	giveUp := time.After(30 * time.Second)
	for {
		res, err := c.Run(testContext(t), RunSpec{Command: "echo still here"})
		if err == nil {
			if string(res.Output) != "still here\n" {
				t.Errorf("output %q", res.Output)
			}
			return
		}
		select {
		case <-giveUp:
			t.Fatalf("30 s after the host thawed, a command on the connection still fails: %v; the %d sessions opened after newSession gave up are not closed, and sshd's MaxSessions refuses more", err, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// serverQueued is how many bytes c has sent that the host's end of the
// connection has received but sshd not yet read (rx_queue in
// /proc/net/tcp).
func serverQueued(t *testing.T, c *Client) int {
	t.Helper()
	server := c.ssh.RemoteAddr().(*net.TCPAddr)
	client := c.ssh.LocalAddr().(*net.TCPAddr)
	fields := tcpEntry(t, server, client)
	_, rx, _ := strings.Cut(fields[4], ":")
	n, err := strconv.ParseInt(rx, 16, 64)
	if err != nil {
		t.Fatalf("rx_queue %q in /proc/net/tcp: %v", fields[4], err)
	}
	return int(n)
}

// waitQueued polls queued until done holds and returns the last value.
func waitQueued(t *testing.T, queued func() int, done func(int) bool) int {
	t.Helper()
	giveUp := time.After(30 * time.Second)
	for {
		q := queued()
		if done(q) {
			return q
		}
		select {
		case <-giveUp:
			t.Fatalf("the frozen host's socket holds %d bytes after 30 s; the session opens were not sent", q)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
