package testhost

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// netns makes a network namespace joined to this one by a veth pair and
// returns its name, the address inside it and a function that cuts the link.
func netns(t *testing.T) (name, inside string, cut func()) {
	t.Helper()
	var b [2]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	name, host, peer := "thns"+id, "tha"+id, "thb"+id
	outside := fmt.Sprintf("10.213.%d.1", b[0])
	inside = fmt.Sprintf("10.213.%d.2", b[0])
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s (needs iproute2, installed by .ci/run, and root with CAP_SYS_ADMIN)", name, err, out)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		exec.Command("ip", "netns", "del", name).Run()
	})
	sh("link", "add", host, "type", "veth", "peer", "name", peer, "netns", name)
	sh("addr", "add", outside+"/30", "dev", host)
	sh("link", "set", host, "up")
	sh("-n", name, "addr", "add", inside+"/30", "dev", peer)
	sh("-n", name, "link", "set", peer, "up")
	sh("-n", name, "link", "set", "lo", "up")
	return name, inside, func() { sh("link", "set", host, "down") }
}

func TestNetnsHost(t *testing.T) {
	signer, line := ClientKey(t)
	ns, addr, cut := netns(t)
	h := Start(t, Options{Netns: ns, Addr: addr, Port: 22, Users: []User{{Name: "root", AuthorizedKeys: []string{line}}}})
	if h.Addr() != addr || h.Port() != 22 {
		t.Fatalf("host at %s:%d, want %s:22", h.Addr(), h.Port(), addr)
	}
	c, err := dial(t, h, "root", signer, h.HostKey())
	if err != nil {
		t.Fatal(err)
	}
	// The session runs inside the namespace: its only non-loopback
	// address is the veth's.
	if out, ok := Exec(t, c, "ip -o -4 addr show scope global"); !ok || !strings.Contains(out, addr+"/30") {
		t.Errorf("addresses inside the host: %q, want %s", out, addr)
	}
	c.Close()
	cut()
	if c, err := dial(t, h, "root", signer, h.HostKey()); err == nil {
		c.Close()
		t.Error("connected after the link was cut")
	}
}
