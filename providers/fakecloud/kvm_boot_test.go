package fakecloud

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestHostBooterKVMAsCloudInitLeavesIt: on an instance booted from the
// cycle's user data, the suite's user (in the kvm group the user data
// gives it) opens /dev/kvm read-write and sees it root:kvm 0660, as the
// cloud-config's runcmd leaves it on a cloud host, even where the
// machine's own node is root:root 0600 (the namespace's stand-in, so this
// runs on any machine). Without that a non-root suite could never pass
// the kvm lane on such a machine.
func TestHostBooterKVMAsCloudInitLeavesIt(t *testing.T) {
	testhost.RequireRoot(t)
	if !testhost.InStandInKVMOwned(t, 0, 0, 0o600, "") {
		return
	}
	keys, ud := kitUserData(t, "/var/lib/mvm-verify/ready-fakecloud-kvm-test")
	k := New(TestHostBooter{Port: 22}, nil)
	t.Cleanup(func() { k.Close(context.Background()) }) //nolint:errcheck // test end
	m := bootRunning(t, k, "i-kvm", ud)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := remote.Dial(ctx, remote.Target{Addr: m.Addr(), Port: m.Port(), User: kitUser, Signer: keys.Client, HostKey: keys.HostPublic},
		remote.DialOptions{InitialBackoff: 10 * time.Millisecond, HandshakeBudget: 1})
	if err != nil {
		t.Fatalf("ssh %s@%s: %v", kitUser, m.Addr(), err)
	}
	defer c.Close()
	res, err := c.Run(ctx, remote.RunSpec{Command: "stat -c '%U:%G %a' /dev/kvm && : <>/dev/kvm && echo opened", Timeout: 30 * time.Second})
	if out := strings.TrimSpace(string(res.Output)); err != nil || !res.OK() || out != "root:kvm 660\nopened" {
		t.Errorf("as %s: /dev/kvm: %v, exit %d, output %q; want root:kvm 660 and opened read-write", kitUser, err, res.ExitCode, out)
	}
	if fi, err := os.Stat("/dev/kvm"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the machine's /dev/kvm: %v, %v; want it left 0600", fi, err)
	}
}
