package aws_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/cloudinit"
	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// TestUserDataPassesSchema renders the user data the cycle sends, lets the
// adapter launch with it, and validates what reached the fake's
// RunInstances with Debian's cloud-init.
func TestUserDataPassesSchema(t *testing.T) {
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Fatal("cloud-init is not installed: install Debian's cloud-init package, which validates the user data's schema")
	}
	keys, err := remote.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	ud, err := cloudinit.Render(cloudinit.Config{
		User: "mvm", AuthorizedKeys: []string{keys.ClientAuthorized},
		HostKeyPrivatePEM: string(keys.HostPrivatePEM), HostKeyPublic: keys.HostPublic,
		ReadyMarker: "/var/lib/mvm-verify/ready", TTL: 2 * time.Hour,
		Bootstrap: []string{"true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := newFake(t, idleBooter)
	p := newProvider(t, srv, nil)
	id := identity("aws")
	req := request(id)
	// As the cycle does: only the private host key; the adapter derives
	// the public half the host must present.
	req.UserData, req.HostKeyPEM = ud, keys.HostPrivatePEM
	h, err := p.Create(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.HostKey != keys.HostPublic {
		t.Errorf("host key = %q, want %q", h.HostKey, keys.HostPublic)
	}
	sent := srv.Instances()[0].UserData
	if string(sent) != string(ud) {
		t.Fatal("user data changed on the way to EC2")
	}
	// Nothing but the keys: no cloud credentials ride along.
	for _, secret := range []string{env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "aws_secret", "AWS_SESSION_TOKEN"} {
		if strings.Contains(string(sent), secret) {
			t.Errorf("user data contains %q", secret)
		}
	}
	if !strings.Contains(string(sent), keys.ClientAuthorized) || !strings.Contains(string(sent), keys.HostPublic) {
		t.Error("user data lacks the run's public keys")
	}
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, sent, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ci, "schema", "--config-file", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid") {
		t.Fatalf("cloud-init schema: %v\n%s", err, out)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}
