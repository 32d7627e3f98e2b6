package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// keyProvider boots real sshd test hosts but reports the host key that
// hostKey makes of the real one, and says whether it booted them from our
// user data: a provider that loses, or misreports, the host's key.
type keyProvider struct {
	*hostProvider
	hostKey   func(real string) string
	cloudInit bool
}

func (p keyProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	h, err := p.hostProvider.Create(ctx, req, j)
	if err != nil {
		return nil, err
	}
	h.HostKey = p.hostKey(h.HostKey)
	h.CloudInit = p.cloudInit
	return h, nil
}

// markerPlan is a leg whose bootstrap (run over SSH in the ready phase)
// and step each leave a file on the host: if either exists, something ran
// there.
func markerPlan(t *testing.T, p providers.Provider) (Plan, []string, *watchWriter) {
	dir := hostDir(t) // the step runs as testUser
	boot, step := filepath.Join(dir, "bootstrapped"), filepath.Join(dir, "stepped")
	plan := testPlan(p, Step{Name: "mark", Run: "touch " + remote.Quote(step), Column: matrix.LiveCycle})
	plan.Bootstrap = []string{"touch " + remote.Quote(boot)}
	out := newWatchWriter("\x00") // never seen: only the text is wanted
	plan.Out = out
	return plan, []string{boot, step}, out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// refusedAtReady checks a leg refused at the ready phase: the error says
// why, nothing ran on the host, and the host was still destroyed.
func refusedAtReady(t *testing.T, p *hostProvider, res *Result, markers []string, out *watchWriter, want ...string) {
	t.Helper()
	pr := res.Phase(PhaseReady)
	if pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("ready %+v, want failed\n%s", pr, out)
	}
	t.Logf("refused: %s", pr.Error)
	for _, w := range want {
		if !strings.Contains(pr.Error, w) {
			t.Errorf("ready error %q lacks %q", pr.Error, w)
		}
	}
	if res.Outcome == Verified {
		t.Errorf("outcome %s, want a failure", res.Outcome)
	}
	for _, m := range markers {
		if exists(m) {
			t.Errorf("%s exists: a command ran on a host whose key was refused", m)
		}
	}
	if res.Phase(PhaseSuite) != nil {
		t.Errorf("the suite phase ran: %+v", res.Phases)
	}
	p.mu.Lock()
	destroyed := len(p.destroys)
	p.mu.Unlock()
	if destroyed == 0 {
		t.Error("the provider's destroy never ran")
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
	if strings.Contains(out.String(), "not pinned") {
		t.Errorf("the refused host was still reached unpinned:\n%s", out)
	}
}

func noKey(string) string { return "" }

// refusalReadyTimeout bounds the ready phase of a leg that must be refused
// before anything dials: with the refusal broken, the cycle would retry
// mismatched handshakes (30 of them for a cloud-init host) for minutes
// instead of failing the test.
const refusalReadyTimeout = 5 * time.Second

// A provider that returns a host without its key must not get an unpinned
// connection unless the user asked for insecure-host-key.
func TestEmptyHostKeyRefusedWithoutInsecure(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	plan, markers, out := markerPlan(t, keyProvider{hostProvider: hp, hostKey: noKey})
	plan.ReadyTimeout = refusalReadyTimeout
	res := Run(context.Background(), plan)
	refusedAtReady(t, hp, res, markers, out, "testhosts", "host key is unknown", "nothing was run on the host", "insecure-host-key")
}

// With insecure-host-key the same host is reached, unpinned, and the
// output says so.
func TestEmptyHostKeyWithInsecureWarns(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	plan, markers, out := markerPlan(t, keyProvider{hostProvider: hp, hostKey: noKey})
	plan.InsecureHostKey = true
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s\n%s", res.Outcome, res.FirstFailure, out)
	}
	for _, m := range markers {
		if !exists(m) {
			t.Errorf("%s is missing: the leg did not run on the host", m)
		}
	}
	if res.Host == nil {
		t.Fatal("no host in the result")
	}
	if !strings.Contains(out.String(), "host key of "+res.Host.Address+" is not pinned (insecure-host-key)") {
		t.Errorf("no warning that the host key is not pinned:\n%s", out)
	}
}

// A host booted from our user data presents the run's own host key; a
// provider reporting anything else (another key, none) is refused even with
// insecure-host-key, which is for keys the run cannot know.
func TestCloudInitHostMustPresentTheRunsKey(t *testing.T) {
	testhost.RequireRoot(t)
	other, err := remote.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		hostKey  func(string) string
		insecure bool
		want     string
	}{
		{"another key", func(string) string { return other.HostPublic }, false, "SHA256:"},
		{"another key, insecure-host-key", func(string) string { return other.HostPublic }, true, "SHA256:"},
		{"no key, insecure-host-key", noKey, true, "host key none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hp := &hostProvider{}
			plan, markers, out := markerPlan(t, keyProvider{hostProvider: hp, hostKey: tc.hostKey, cloudInit: true})
			plan.InsecureHostKey = tc.insecure
			plan.ReadyTimeout = refusalReadyTimeout
			res := Run(context.Background(), plan)
			refusedAtReady(t, hp, res, markers, out, "testhosts", "booted", "not the run's own", "nothing was run on the host", tc.want)
		})
	}
}

// The same provider reporting the run's own key (with a comment, as
// authorized_keys lines may carry) is reached, pinned, and verifies.
func TestCloudInitHostWithTheRunsKeyIsPinned(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	plan, markers, out := markerPlan(t, keyProvider{hostProvider: hp, hostKey: func(k string) string { return k + " root@host" }, cloudInit: true})
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s\n%s", res.Outcome, res.FirstFailure, out)
	}
	for _, m := range markers {
		if !exists(m) {
			t.Errorf("%s is missing: the leg did not run on the host", m)
		}
	}
	if strings.Contains(out.String(), "not pinned") {
		t.Errorf("the run's own host was reached unpinned:\n%s", out)
	}
}
