package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// consoleProvider is a hostProvider whose hosts have a console, like a
// cloud's serial console, and that can hand out a host whose key is not
// the one it presents, so SSH never gets in.
type consoleProvider struct {
	*hostProvider
	wrongKey string
	// secret is printed on the console; the collected log must mask it.
	secret string
}

func (p *consoleProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	h, err := p.hostProvider.Create(ctx, req, j)
	if err != nil {
		return nil, err
	}
	h.ID = "i-console"
	if p.wrongKey != "" {
		h.HostKey = p.wrongKey
	}
	return h, nil
}

func (p *consoleProvider) Console(_ context.Context, h *providers.Host) (string, error) {
	return "console of " + h.ID + "\nboot ok\nleaked " + p.secret + "\n", nil
}

// A host SSH never gets into still leaves its console to explain the
// failed ready phase; what the console shows is masked like any log.
func TestCollectConsoleWhenSSHFails(t *testing.T) {
	testhost.RequireRoot(t)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))

	p := &consoleProvider{hostProvider: &hostProvider{}, wrongKey: otherKey, secret: "s3cr3t-token-value"}
	plan := testPlan(p, Step{Name: "never", Run: "true", Column: matrix.LiveCycle})
	plan.Secrets = []string{p.secret}
	res := Run(context.Background(), plan)
	if res.Outcome == Verified {
		t.Fatal("a host presenting another key was verified")
	}
	checkCollected(t, res, "console")
	text := res.Collected[0].Text
	if !strings.Contains(text, "console of i-console") || !strings.Contains(text, "boot ok") {
		t.Errorf("console log %q", text)
	}
	if strings.Contains(text, p.secret) {
		t.Errorf("console log shows the secret: %q", text)
	}
}

// A host SSH gets into gives its logs and then its console.
func TestCollectLogsThenConsole(t *testing.T) {
	testhost.RequireRoot(t)
	p := &consoleProvider{hostProvider: &hostProvider{}}
	res := Run(context.Background(), testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle}))
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	checkCollected(t, res, "kernel log", "journal", "console")
}
