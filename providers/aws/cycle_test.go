package aws_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/cloudinit"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// cycleUser is the suite's user on the fake instance; the test host makes
// it a real account on this machine, so the name is this test's own.
const cycleUser = "mvmv-aws"

// TestCycleOverSSH is the provider-level cycle: preflight, create through
// the SDK, real SSH into the booted host with the pinned host key, teardown
// and a clean leak check.
func TestCycleOverSSH(t *testing.T) {
	providertest.RequireTestHosts(t)
	srv := fake.New(fake.Config{Booter: fakecloud.TestHostBooter{Port: 22}})
	t.Cleanup(srv.Close)
	cleanProbeDirs(t, srv)
	keys, err := remote.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	ud, err := cloudinit.Render(cloudinit.Config{
		User: cycleUser, AuthorizedKeys: []string{keys.ClientAuthorized},
		HostKeyPrivatePEM: string(keys.HostPrivatePEM), HostKeyPublic: keys.HostPublic,
		ReadyMarker: "/var/lib/mvm-verify/ready", TTL: time.Hour, Bootstrap: []string{"true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv, nil)
	id := identity("aws-cycle")
	req := request(id)
	req.User, req.UserData, req.HostKeyPEM, req.SSHSourceCIDR = cycleUser, ud, keys.HostPrivatePEM, "127.0.0.1/32"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := p.Preflight(ctx, req); err != nil {
		t.Fatal(err)
	}
	h, attempts, err := providers.CreateWithFallback(ctx, p, req, []providers.Candidate{p.DefaultCandidate()}, nil, providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 1 || !attempts[0].OK {
		t.Errorf("attempts = %+v", attempts)
	}
	in, _ := srv.Instance(h.ID)
	if h.Port != 22 || h.Address != in.PublicIP || !strings.HasPrefix(h.Address, "127.") || h.HostKey != keys.HostPublic {
		t.Fatalf("host = %+v, instance IP %s", h, in.PublicIP)
	}

	out := sshRun(t, h, keys.Client, h.HostKey, "id -un")
	if strings.TrimSpace(out) != cycleUser {
		t.Errorf("remote id -un = %q, want %s", out, cycleUser)
	}
	// The pin is real: another host key is refused.
	other, err := remote.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(h, keys.Client, other.HostPublic); err == nil {
		t.Error("dial with the wrong host key succeeded")
	}

	if _, err := p.Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
	if c, err := dial(h, keys.Client, h.HostKey); err == nil {
		c.Close()
		t.Error("the host still answers SSH after teardown")
	}
}

func dial(h *providers.Host, signer ssh.Signer, hostKey string) (*ssh.Client, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hostKey))
	if err != nil {
		return nil, err
	}
	return ssh.Dial("tcp", net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), &ssh.ClientConfig{
		User: h.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(pub), Timeout: 10 * time.Second,
	})
}

func sshRun(t *testing.T, h *providers.Host, signer ssh.Signer, hostKey, cmd string) string {
	t.Helper()
	c, err := dial(h, signer, hostKey)
	if err != nil {
		t.Fatalf("ssh %s@%s:%d: %v", h.User, h.Address, h.Port, err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("ssh %q: %v\n%s", cmd, err, out)
	}
	return string(out)
}
