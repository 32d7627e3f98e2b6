package cloudinit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// fwHelperArg makes the test binary act as the firewall check inside a
// network namespace of its own (see TestFirewallBlocksOtherSources).
const fwHelperArg = "__cloudinit-firewall-helper"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == fwHelperArg {
		if err := firewallHelper(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// firewallHelper runs in a fresh network namespace: it loads the rendered nft
// script, listens on 127.0.0.1:22 and connects from an allowed and a
// forbidden loopback source.
func firewallHelper(script string) error {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("bring lo up: %v: %s", err, out)
	}
	if out, err := exec.Command("sh", "-ec", script).CombinedOutput(); err != nil {
		return fmt.Errorf("load rules: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:22")
	if err != nil {
		return fmt.Errorf("listen on :22: %w", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func(src string, timeout time.Duration) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: timeout}
		c, err := d.Dial("tcp", "127.0.0.1:22")
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("127.0.0.2", 10*time.Second); err != nil {
		return fmt.Errorf("allowed source 127.0.0.2 cannot connect: %w", err)
	}
	// A dropped SYN never gets an answer, so the only sign is the timeout.
	err = dial("127.0.0.3", time.Second)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return fmt.Errorf("forbidden source 127.0.0.3: got %v, want the connection dropped (timeout)", err)
	}
	return nil
}

// TestFirewallBlocksOtherSources loads the rendered rule in a network
// namespace and checks it lets the allowed source reach tcp/22 and drops
// another one.
func TestFirewallBlocksOtherSources(t *testing.T) {
	for _, tool := range []string{"nft", "unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian packages nftables, util-linux, iproute2; .ci/run installs them)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create a network namespace; CI runs as root")
	}
	c := minimalConfig(t)
	c.Firewall = &Firewall{SourceCIDR: "127.0.0.2/32"}
	doc, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, cmd := range parse(t, doc).Runcmd {
		if strings.HasPrefix(cmd, "nft ") {
			script = cmd
		}
	}
	if script == "" {
		t.Fatal("no nft command in runcmd")
	}
	out, err := exec.Command("unshare", "--net", os.Args[0], fwHelperArg, script).CombinedOutput()
	if err != nil {
		t.Fatalf("firewall check in a network namespace: %v\n%s", err, out)
	}
}
