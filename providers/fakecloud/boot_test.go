package fakecloud

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/cloudinit"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/sshd"
)

// kitUser is the suite's user in the rendered user data; the test host
// makes it a real account on this machine, so the name is this test's own.
const kitUser = "mvmv-kit"

// kitUserData renders the cycle's user data for kitUser with fresh keys
// and the ready marker at marker, returning both.
func kitUserData(t *testing.T, marker string) (*remote.Keys, []byte) {
	t.Helper()
	keys, err := remote.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	ud, err := cloudinit.Render(cloudinit.Config{
		User: kitUser, AuthorizedKeys: []string{keys.ClientAuthorized},
		HostKeyPrivatePEM: string(keys.HostPrivatePEM), HostKeyPublic: keys.HostPublic,
		ReadyMarker: marker, TTL: time.Hour, Bootstrap: []string{"true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys, ud
}

// bootRunning boots instance id from user data ud in k and returns it once
// it runs; a failed boot, or none within 2 minutes, fails t.
func bootRunning(t *testing.T, k *Kit, id string, ud []byte) Machine {
	t.Helper()
	running := make(chan Machine, 1)
	failed := make(chan error, 1)
	k.Boot(id, ud, func(m Machine) { running <- m }, func(err error) { failed <- err })
	select {
	case m := <-running:
		return m
	case err := <-failed:
		t.Fatalf("boot from the rendered user data failed: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the instance neither ran nor failed in 2 minutes")
	}
	return nil
}

// TestHostBooterFromUserData: the kit's boot path on its own, with no
// provider's fake around it. An instance booted by TestHostBooter from a
// #cloud-config rendered as the cycle renders it answers SSH on port 22 of
// a loopback address, presents the host key the user data carries, and
// lets the user data's users in with the run's client key; anything else
// is refused, and after Halt nothing answers.
func TestHostBooterFromUserData(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("test hosts run sshd and create users: run the tests as root (CI does)")
	}
	if _, err := sshd.FindBinary(); err != nil {
		t.Fatalf("%v: install Debian's openssh-server", err)
	}
	keys, ud := kitUserData(t, "/var/lib/mvm-verify/ready-fakecloud-test")

	afterBoot := make(chan string, 1)
	k := New(TestHostBooter{Port: 22, AfterBoot: func(_ context.Context, spec BootSpec, m Machine) error {
		afterBoot <- spec.ID + " " + m.Addr()
		return nil
	}}, nil)
	t.Cleanup(func() { k.Close(context.Background()) }) //nolint:errcheck // test end
	m := bootRunning(t, k, "i-kit", ud)
	if !strings.HasPrefix(m.Addr(), "127.") || m.Port() != 22 {
		t.Errorf("machine at %s:%d, want port 22 of a loopback address", m.Addr(), m.Port())
	}
	if got, want := <-afterBoot, "i-kit "+m.Addr(); got != want {
		t.Errorf("AfterBoot saw %q, want %q", got, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fast := remote.DialOptions{InitialBackoff: 10 * time.Millisecond, HandshakeBudget: 1}
	target := remote.Target{Addr: m.Addr(), Port: m.Port(), Signer: keys.Client, HostKey: keys.HostPublic}
	// The user data's user, and root (cloud-init gives it the same keys),
	// log in with the run's client key, pinning the run's host key. (Only
	// the user runs a command: root's login shell is this machine's.)
	for _, user := range []string{kitUser, "root"} {
		target.User = user
		c, err := remote.Dial(ctx, target, fast)
		if err != nil {
			t.Fatalf("ssh %s@%s with the pinned host key: %v", user, m.Addr(), err)
		}
		if user == kitUser {
			res, err := c.Run(ctx, remote.RunSpec{Command: "id -un", Timeout: 30 * time.Second})
			if err != nil || !res.OK() || strings.TrimSpace(string(res.Output)) != user {
				t.Errorf("as %s, id -un: %v, exit %d, output %q", user, err, res.ExitCode, res.Output)
			}
		}
		c.Close()
	}

	// The pin is real: the host does not present another key.
	other, err := remote.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	target.User = kitUser
	wrongHost := target
	wrongHost.HostKey = other.HostPublic
	if c, err := remote.Dial(ctx, wrongHost, fast); !errors.Is(err, remote.ErrHostKeyMismatch) {
		if c != nil {
			c.Close()
		}
		t.Errorf("dial pinning another host key: %v, want a host key mismatch", err)
	}
	// Only the keys in the user data get in.
	wrongClient := target
	wrongClient.Signer = other.Client
	if c, err := remote.Dial(ctx, wrongClient, fast); !errors.Is(err, remote.ErrAuth) {
		if c != nil {
			c.Close()
		}
		t.Errorf("dial with a client key not in the user data: %v, want an authentication failure", err)
	}

	if err := k.Halt(ctx, "i-kit"); err != nil {
		t.Fatal(err)
	}
	gone, cancelGone := context.WithTimeout(ctx, 5*time.Second)
	defer cancelGone()
	if c, err := remote.Dial(gone, target, fast); err == nil {
		c.Close()
		t.Error("the host still answers SSH after Halt")
	}
}
