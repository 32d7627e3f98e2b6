package fake

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// standIn is a booted instance whose "sshd" sends a banner to each
// connection and counts them, so a test sees whether a connection to the
// instance's public address reached it.
type standIn struct {
	ln       net.Listener
	accepted atomic.Int32
}

func (m *standIn) Addr() string               { return "127.0.0.1" }
func (m *standIn) Port() int                  { return m.ln.Addr().(*net.TCPAddr).Port }
func (m *standIn) Stop(context.Context) error { return m.ln.Close() }

func bootStandIn(t *testing.T) (fakecloud.Booter, *atomic.Pointer[standIn]) {
	t.Helper()
	var last atomic.Pointer[standIn]
	return fakecloud.BooterFunc(func(context.Context, fakecloud.BootSpec) (fakecloud.Machine, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		m := &standIn{ln: ln}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				m.accepted.Add(1)
				io.WriteString(c, "SSH-2.0-stand-in\r\n")         //nolint:errcheck // the test reads it or not
				go func() { io.Copy(io.Discard, c); c.Close() }() //nolint:errcheck // until the client goes
			}
		}()
		last.Store(m)
		return m, nil
	}), &last
}

// banner connects to instance id's public address and returns the first
// bytes its sshd sends within wait, "" when nothing comes. A test that
// expects a banner waits long, so a loaded machine does not fail it; one
// that expects none also checks that sshd saw no connection.
func banner(t *testing.T, s *Server, id string, wait time.Duration) string {
	t.Helper()
	in, _ := s.Instance(id)
	c, err := net.DialTimeout("tcp", net.JoinHostPort(in.PublicIP, strconv.Itoa(in.SSHPort)), 10*time.Second)
	if err != nil {
		t.Fatalf("connect to %s's public address %s:%d: %v", id, in.PublicIP, in.SSHPort, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(wait)) //nolint:errcheck // a net.Conn
	b := make([]byte, 64)
	n, err := c.Read(b)
	if n == 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from %s's public address: %v, want its banner or nothing at all", id, err)
	}
	return string(b[:n])
}

const (
	answered = 10 * time.Second
	dropped  = 500 * time.Millisecond
)

// TestSSHOnlyWhereTheGroupAllows: an instance's public address leads to
// its sshd only while one of its security groups allows tcp/22 from the
// client's address (127.0.0.1 unless set): otherwise the connection is
// dropped, as EC2 drops the packets, and sshd never sees it. A rule added
// after launch, or a change of the client's address, counts from the next
// connection on; a launch naming no group gets the VPC's default group,
// which lets in nothing from outside it.
func TestSSHOnlyWhereTheGroupAllows(t *testing.T) {
	booter, last := bootStandIn(t)
	s := New(Config{Booter: booter})
	defer s.Close()
	sg := group(t, s)
	if st, b := post(t, s, auth, ingress(sg, "tcp", "22", "22", "203.0.113.7/32")); st != 200 {
		t.Fatal(b)
	}
	id := launch(t, s, sg, "us-east-1a")
	waitState(t, s, id, "running")
	host := last.Load()
	if in, _ := s.Instance(id); in.PublicIP == "" || in.PublicIP == host.Addr() || in.SSHPort != host.Port() {
		t.Fatalf("instance %+v: want a public address of its own at its sshd's port %d", in, host.Port())
	}
	if got := banner(t, s, id, dropped); got != "" || host.accepted.Load() != 0 {
		t.Fatalf("the group allows only 203.0.113.7/32, the client is 127.0.0.1: got %q, sshd saw %d connections", got, host.accepted.Load())
	}

	if st, b := post(t, s, auth, ingress(sg, "tcp", "22", "22", "127.0.0.1/32")); st != 200 {
		t.Fatal(b)
	}
	if got := banner(t, s, id, answered); got != "SSH-2.0-stand-in\r\n" || host.accepted.Load() != 1 {
		t.Fatalf("with tcp/22 from 127.0.0.1/32: got %q, sshd saw %d connections, want its banner and one", got, host.accepted.Load())
	}
	if err := s.SetClientAddr("198.51.100.9"); err != nil {
		t.Fatal(err)
	}
	if got := banner(t, s, id, dropped); got != "" || host.accepted.Load() != 1 {
		t.Fatalf("from 198.51.100.9, which no rule allows: got %q, sshd saw %d connections", got, host.accepted.Load())
	}
	if err := s.SetClientAddr("203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	if got := banner(t, s, id, answered); got == "" {
		t.Fatal("from 203.0.113.7, which the first rule allows: no banner")
	}

	// No group named: the VPC's default group.
	if st, b := post(t, s, auth, launchWith()); st != 200 {
		t.Fatal(b)
	}
	var bare string
	for _, in := range s.Instances() {
		if in.ID != id {
			bare = in.ID
		}
	}
	waitState(t, s, bare, "running")
	if got := banner(t, s, bare, dropped); got != "" || last.Load().accepted.Load() != 0 {
		t.Fatalf("an instance in the default group only: got %q, sshd saw %d connections", got, last.Load().accepted.Load())
	}

	// A terminated instance has no public address left.
	in, _ := s.Instance(id)
	if st, b := post(t, s, auth, ec2Form("TerminateInstances", "InstanceId.1", id)); st != 200 {
		t.Fatal(b)
	}
	waitState(t, s, id, "terminated")
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(in.PublicIP, strconv.Itoa(in.SSHPort)), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("the terminated instance's address %s still accepts connections", in.PublicIP)
	}
}
