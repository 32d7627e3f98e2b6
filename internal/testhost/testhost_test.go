package testhost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/sshd"
)

// tempUser returns a user name of this test's own and deletes the account
// when the test ends.
func tempUser(t *testing.T) string {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	name := "th" + hex.EncodeToString(b[:])
	t.Cleanup(func() { exec.Command("userdel", "-r", "-f", name).Run() })
	return name
}

func dial(t *testing.T, h *Host, user string, signer ssh.Signer, hostKey string) (*ssh.Client, error) {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hostKey))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", net.JoinHostPort(h.Addr(), strconv.Itoa(h.Port())), &ssh.ClientConfig{
		User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(pub), Timeout: 10 * time.Second,
	})
}

func TestBootUserLogin(t *testing.T) {
	user := tempUser(t)
	signer, line := ClientKey(t)
	hostPEM, hostLine := HostKeyPair(t)
	h := Start(t, Options{HostKeyPEM: hostPEM, Users: []User{{Name: user, AuthorizedKeys: []string{line}, Groups: []string{"kvm", "sudo"}, Sudo: true}}})
	if h.HostKey() != hostLine {
		t.Fatalf("HostKey %q, want the given key %q", h.HostKey(), hostLine)
	}
	if !strings.HasPrefix(h.Addr(), "127.") {
		t.Errorf("Addr %q, want a loopback address", h.Addr())
	}
	c, err := dial(t, h, user, signer, hostLine)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct{ cmd, want string }{
		{"id -un", user},
		{"sudo -n id -un", "root"},
	} {
		if got, ok := Exec(t, c, tc.cmd); !ok || got != tc.want {
			t.Errorf("%s = %q (ok %v), want %q", tc.cmd, got, ok, tc.want)
		}
	}
	groups, _ := Exec(t, c, "id -Gn")
	for _, g := range []string{"kvm", "sudo"} {
		if !slices.Contains(strings.Fields(groups), g) {
			t.Errorf("groups %q lack %s", groups, g)
		}
	}
}

func TestWrongHostKeyRefused(t *testing.T) {
	signer, line := ClientKey(t)
	h := Start(t, Options{Users: []User{{Name: "root", AuthorizedKeys: []string{line}}}})
	_, other := HostKeyPair(t)
	c, err := dial(t, h, "root", signer, other)
	if err == nil {
		c.Close()
		t.Fatal("connected although the host presented a key other than the pinned one")
	}
	if !strings.Contains(err.Error(), "host key mismatch") {
		t.Errorf("err %v, want a host key mismatch", err)
	}
	// The right key still works, so the refusal above was the pin's doing.
	c, err = dial(t, h, "root", signer, h.HostKey())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestHideKVM(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("this machine has no /dev/kvm, so there is nothing to hide")
	}
	signer, line := ClientKey(t)
	root := []User{{Name: "root", AuthorizedKeys: []string{line}}}
	hidden := Start(t, Options{HideKVM: true, Users: root})
	plain := Start(t, Options{Users: root})
	for _, tc := range []struct {
		h       *Host
		haveKVM bool
	}{{hidden, false}, {plain, true}} {
		c, err := dial(t, tc.h, "root", signer, tc.h.HostKey())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := Exec(t, c, "test -e /dev/kvm"); ok != tc.haveKVM {
			t.Errorf("hide %v: /dev/kvm exists = %v", !tc.haveKVM, ok)
		}
		// What sessions need still works without KVM.
		if out, ok := Exec(t, c, "echo x >/dev/null && head -c 4 /dev/urandom | wc -c && test -d /dev/pts && ls /dev/fd/ >/dev/null && echo ok"); !ok || !strings.HasSuffix(out, "ok") {
			t.Errorf("hide %v: device check: %q", !tc.haveKVM, out)
		}
		// A pty exercises /dev/ptmx and /dev/pts.
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
			t.Errorf("hide %v: pty: %v", !tc.haveKVM, err)
		} else if out, err := s.CombinedOutput("tty"); err != nil || !strings.Contains(string(out), "/dev/pts/") {
			t.Errorf("hide %v: tty = %q, %v", !tc.haveKVM, out, err)
		}
		s.Close()
		c.Close()
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Errorf("/dev/kvm vanished from this machine: %v", err)
	}
}

func TestStopLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("test hosts need root")
	}
	user := tempUser(t)
	_, line := ClientKey(t)
	h, err := Boot(t.Context(), Options{Users: []User{{Name: user, AuthorizedKeys: []string{line}, Sudo: true}}})
	if err != nil {
		t.Fatal(err)
	}
	pid := h.Pid()
	dropIns, _ := filepath.Glob("/etc/sudoers.d/mvm-testhost-" + user + "-*")
	if len(dropIns) != 1 {
		t.Fatalf("sudoers drop-ins %v, want one", dropIns)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sshd.Alive(pid) {
		t.Errorf("sshd %d still running after Stop", pid)
	}
	if _, err := os.Stat(dropIns[0]); !os.IsNotExist(err) {
		t.Errorf("drop-in %s left after Stop: %v", dropIns[0], err)
	}
	if _, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr(), strconv.Itoa(h.Port())), time.Second); err == nil {
		t.Errorf("port %s:%d still accepts connections", h.Addr(), h.Port())
	}
}

func TestSamePortOwnAddresses(t *testing.T) {
	_, line := ClientKey(t)
	a := Start(t, Options{Users: []User{{Name: "root", AuthorizedKeys: []string{line}}}})
	b := Start(t, Options{Port: a.Port(), Users: []User{{Name: "root", AuthorizedKeys: []string{line}}}})
	if a.Addr() == b.Addr() || a.Port() != b.Port() {
		t.Errorf("hosts at %s:%d and %s:%d, want one port on two addresses", a.Addr(), a.Port(), b.Addr(), b.Port())
	}
}
