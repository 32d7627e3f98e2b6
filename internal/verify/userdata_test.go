package verify

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/providers"
)

// userDataProvider is a cloud provider's Create as far as the cycle can
// tell: it takes the request a cloud would boot from, keeps it, and
// reports that no host came up, so the cycle stops there.
type userDataProvider struct {
	mu  sync.Mutex
	req *providers.Request
}

func (p *userDataProvider) Name() string                                       { return "userdata" }
func (p *userDataProvider) Preflight(context.Context, providers.Request) error { return nil }

func (p *userDataProvider) Create(_ context.Context, req providers.Request, _ providers.Journal) (*providers.Host, error) {
	p.mu.Lock()
	p.req = &req
	p.mu.Unlock()
	return nil, errors.New("the test keeps the user data and boots nothing")
}

func (p *userDataProvider) Destroy(context.Context, providers.Identity) (providers.Report, error) {
	return providers.Report{}, nil
}

func (p *userDataProvider) List(context.Context, providers.Filter) ([]providers.Resource, error) {
	return nil, nil
}

// The user data the cycle hands a provider that boots with cloud-init
// carries the suite: its packages, its bootstrap commands in order before
// the ready marker, the self-destruct for the TTL, the suite user with
// sudo, the kvm group and the run's client key, and the run's host key.
func TestUserDataCarriesTheSuite(t *testing.T) {
	p := &userDataProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.User = "mvm"
	plan.TTL = 90 * time.Minute
	plan.Packages = []string{"build-essential", "jq"}
	plan.Bootstrap = []string{"echo first-bootstrap", "echo second-bootstrap"}
	Run(context.Background(), plan)
	if p.req == nil {
		t.Fatal("the provider's Create was never called")
	}
	req := p.req

	var doc struct {
		Users []struct {
			Name              string   `yaml:"name"`
			Groups            []string `yaml:"groups"`
			Sudo              string   `yaml:"sudo"`
			SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
		} `yaml:"users"`
		SSHKeys struct {
			Private string `yaml:"ed25519_private"`
			Public  string `yaml:"ed25519_public"`
		} `yaml:"ssh_keys"`
		Packages []string `yaml:"packages"`
		Runcmd   []string `yaml:"runcmd"`
	}
	if !strings.HasPrefix(string(req.UserData), "#cloud-config\n") {
		t.Fatal("the user data is not a #cloud-config document")
	}
	if err := yaml.Unmarshal(req.UserData, &doc); err != nil {
		t.Fatalf("the user data is not YAML: %v", err)
	}

	if !slices.Equal(doc.Packages, plan.Packages) {
		t.Errorf("packages %q, want the suite's %q", doc.Packages, plan.Packages)
	}

	// runcmd: the self-destruct first, then the bootstrap in order, then
	// the ready marker the provider was told to wait for.
	shutdown := slices.IndexFunc(doc.Runcmd, func(c string) bool { return strings.HasPrefix(c, "shutdown -h +90 ") })
	first, second := slices.Index(doc.Runcmd, plan.Bootstrap[0]), slices.Index(doc.Runcmd, plan.Bootstrap[1])
	ready := slices.IndexFunc(doc.Runcmd, func(c string) bool {
		return strings.Contains(c, "touch '"+req.ReadyMarker+"'")
	})
	if req.ReadyMarker == "" || shutdown < 0 || first < 0 || second < 0 || ready < 0 ||
		!(shutdown < first && first+1 == second && second < ready) {
		t.Errorf("runcmd %q: want `shutdown -h +90` (the TTL), then the bootstrap %q in order, then touch of the ready marker %q",
			doc.Runcmd, plan.Bootstrap, req.ReadyMarker)
	}

	if len(doc.Users) != 1 {
		t.Fatalf("users %+v, want the suite user alone", doc.Users)
	}
	u := doc.Users[0]
	if u.Name != "mvm" || !slices.Contains(u.Groups, "sudo") || !slices.Contains(u.Groups, "kvm") ||
		u.Sudo != "ALL=(ALL) NOPASSWD:ALL" || !slices.Equal(u.SSHAuthorizedKeys, []string{req.ClientAuthorizedKey}) {
		t.Errorf("user %+v, want mvm in sudo and kvm, with passwordless sudo and the run's client key %q", u, req.ClientAuthorizedKey)
	}

	// The host key the cycle pins is the one the host is given.
	if req.HostKey == "" || doc.SSHKeys.Public != req.HostKey {
		t.Errorf("ssh_keys' public key %q, want the run's host key %q", doc.SSHKeys.Public, req.HostKey)
	}
	signer, err := ssh.ParsePrivateKey([]byte(doc.SSHKeys.Private))
	if err != nil {
		t.Fatalf("ssh_keys' private key does not parse: %v", err)
	}
	if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); got != req.HostKey {
		t.Errorf("ssh_keys' private key is not the run's host key")
	}
}
