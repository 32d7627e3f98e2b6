package testhost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

	"github.com/tinylabscom/mvm-verify/internal/proc"
)

// tempUser returns a user name of this test's own and deletes the account
// when the test ends, should the code under test have left it.
func tempUser(t *testing.T) string {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	name := "th" + hex.EncodeToString(b[:])
	t.Cleanup(func() { exec.Command("userdel", "-r", "-f", name).Run() })
	return name
}

// tempGroup is tempUser for a group.
func tempGroup(t *testing.T) string {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	name := "thg" + hex.EncodeToString(b[:])
	t.Cleanup(func() { exec.Command("groupdel", name).Run() })
	return name
}

func exists(db, name string) bool {
	return exec.Command("getent", db, name).Run() == nil
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

// TestHideKVM runs in a mount namespace whose /dev/kvm is the test's own
// node, so the hiding is exercised whether or not this machine has KVM.
func TestHideKVM(t *testing.T) {
	RequireRoot(t)
	if !InStandInKVM(t) {
		return
	}
	if fi, err := os.Stat("/dev/kvm"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("the namespace's stand-in /dev/kvm: %v, %v", fi, err)
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

// TestStopLeavesNothing: Stop undoes everything Boot did to the machine:
// the account and group it created (home included), the sudoers drop-in,
// the group it added an existing account to and the lock it lifted.
func TestStopLeavesNothing(t *testing.T) {
	RequireRoot(t)
	user, group, existing := tempUser(t), tempGroup(t), tempUser(t)
	// An account of the machine's own, locked as useradd leaves it.
	if out, err := exec.Command("useradd", "-m", existing).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", existing, err, out)
	}
	pwBefore, _ := passwordField(existing)
	_, line := ClientKey(t)
	h, err := Boot(t.Context(), Options{Users: []User{
		{Name: user, AuthorizedKeys: []string{line}, Sudo: true, Groups: []string{group}},
		{Name: existing, AuthorizedKeys: []string{line}, Groups: []string{group}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pid := h.Pid()
	dropIns, _ := filepath.Glob("/etc/sudoers.d/mvm-testhost-" + user + "-*")
	if len(dropIns) != 1 {
		t.Fatalf("sudoers drop-ins %v, want one", dropIns)
	}
	home := "/home/" + user
	if _, err := os.Stat(home); err != nil {
		t.Fatalf("home of %s: %v", user, err)
	}
	if in, _ := inGroup(existing, group); !in {
		t.Fatalf("%s not put in %s", existing, group)
	}
	if pw, _ := passwordField(existing); pw != "*" {
		t.Fatalf("%s not unlocked for key logins", existing)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if proc.Alive(pid) {
		t.Errorf("sshd %d still running after Stop", pid)
	}
	if _, err := os.Stat(dropIns[0]); !os.IsNotExist(err) {
		t.Errorf("drop-in %s left after Stop: %v", dropIns[0], err)
	}
	if _, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr(), strconv.Itoa(h.Port())), time.Second); err == nil {
		t.Errorf("port %s:%d still accepts connections", h.Addr(), h.Port())
	}
	if exists("passwd", user) {
		t.Errorf("user %s left after Stop", user)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("home %s left after Stop: %v", home, err)
	}
	if exists("group", group) {
		t.Errorf("group %s left after Stop", group)
	}
	if !exists("passwd", existing) {
		t.Errorf("the machine's own account %s deleted", existing)
	}
	if pw, _ := passwordField(existing); pw != pwBefore {
		t.Errorf("%s's password field %q after Stop, want %q as before", existing, pw, pwBefore)
	}
	if _, err := os.Stat(h.rec.path); !os.IsNotExist(err) {
		t.Errorf("record %s left after Stop: %v", h.rec.path, err)
	}
}

// TestSharedUserOutlivesFirstHost: two hosts for one new account; the
// first to stop leaves it to the other, the last one deletes it.
func TestSharedUserOutlivesFirstHost(t *testing.T) {
	RequireRoot(t)
	user := tempUser(t)
	signer, line := ClientKey(t)
	opts := Options{Users: []User{{Name: user, AuthorizedKeys: []string{line}, Sudo: true}}}
	a, err := Boot(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	b := Start(t, opts)
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, b, user, signer, b.HostKey())
	if err != nil {
		t.Fatalf("login to the second host after the first stopped: %v", err)
	}
	if out, ok := Exec(t, c, "sudo -n id -un"); !ok || out != "root" {
		t.Errorf("sudo on the second host: %q", out)
	}
	c.Close()
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exists("passwd", user) {
		t.Errorf("user %s left after the last host stopped", user)
	}
}

// TestBootSweepsInterruptedRuns: what a host of a killed test binary left
// (its record names a dead process) and an account Boot made whose record
// is lost are undone by the next Boot, while a live host's are not.
func TestBootSweepsInterruptedRuns(t *testing.T) {
	RequireRoot(t)
	orphan, stale, keep := tempUser(t), tempUser(t), tempUser(t)
	_, line := ClientKey(t)
	Start(t, Options{Users: []User{{Name: keep, AuthorizedKeys: []string{line}, Sudo: true}}})
	for _, u := range []string{orphan, stale} {
		if out, err := exec.Command("useradd", "-m", "-c", CreatedMark, u).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v: %s", u, err, out)
		}
	}
	// A process that has exited: its pid and start time name nobody now.
	dead := exec.Command("sleep", "600")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	start, err := proc.StartTime(dead.Process.Pid)
	dead.Process.Kill()
	dead.Wait()
	if err != nil {
		t.Fatal(err)
	}
	dropIn := filepath.Join("/etc/sudoers.d", "mvm-testhost-"+stale+"-000000000000")
	if err := os.WriteFile(dropIn, []byte(stale+" ALL=(ALL) NOPASSWD:ALL\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dropIn) })
	rec := &record{Pid: dead.Process.Pid, Start: start, Users: []string{stale}, DropIns: []string{dropIn},
		path: filepath.Join(RegistryDir, fmt.Sprintf("%d-%d-test.json", dead.Process.Pid, start))}
	if err := rec.save(); err != nil {
		t.Fatal(err)
	}
	Start(t, Options{Users: []User{{Name: "root", AuthorizedKeys: []string{line}}}})
	for _, u := range []string{orphan, stale} {
		if exists("passwd", u) {
			t.Errorf("user %s of an interrupted run left after Boot", u)
		}
	}
	if _, err := os.Stat(dropIn); !os.IsNotExist(err) {
		t.Errorf("drop-in %s of an interrupted run left after Boot: %v", dropIn, err)
	}
	if _, err := os.Stat(rec.path); !os.IsNotExist(err) {
		t.Errorf("record %s of an interrupted run left after Boot: %v", rec.path, err)
	}
	if !exists("passwd", keep) {
		t.Errorf("user %s of a running host deleted", keep)
	}
	if drops, _ := filepath.Glob("/etc/sudoers.d/mvm-testhost-" + keep + "-*"); len(drops) != 1 {
		t.Errorf("running host's drop-ins %v, want one", drops)
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
