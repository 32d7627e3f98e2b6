package verify

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// hostProvider provisions real sshd test hosts on loopback, so the cycle
// under test talks real SSH. blockCreate makes Create wait for its context
// after the host exists, as a slow cloud API would.
type hostProvider struct {
	blockCreate bool

	mu    sync.Mutex
	hosts map[string]*testhost.Host // by identity run+key
}

func (p *hostProvider) Name() string                                       { return "testhosts" }
func (p *hostProvider) Preflight(context.Context, providers.Request) error { return nil }

func (p *hostProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	h, err := testhost.Boot(ctx, testhost.Options{
		HostKeyPEM: req.HostKeyPEM,
		Users:      []testhost.User{{Name: "root", AuthorizedKeys: []string{req.ClientAuthorizedKey}}},
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.hosts == nil {
		p.hosts = map[string]*testhost.Host{}
	}
	p.hosts[req.Identity.Run()+"/"+req.Identity.Key] = h
	p.mu.Unlock()
	j.Record(providers.Resource{Provider: p.Name(), Kind: "host", ID: h.Addr(), Tags: req.Identity.Tags()})
	if p.blockCreate {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &providers.Host{Address: h.Addr(), Port: h.Port(), User: "root", HostKey: h.HostKey(), Type: "test"}, nil
}

func (p *hostProvider) Destroy(ctx context.Context, id providers.Identity) (providers.Report, error) {
	p.mu.Lock()
	h := p.hosts[id.Run()+"/"+id.Key]
	delete(p.hosts, id.Run()+"/"+id.Key)
	p.mu.Unlock()
	if h == nil {
		return providers.Report{}, nil
	}
	return providers.Report{Deleted: []providers.Resource{{Kind: "host", ID: h.Addr()}}}, h.Stop(ctx)
}

func (p *hostProvider) List(_ context.Context, f providers.Filter) ([]providers.Resource, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []providers.Resource
	for k, h := range p.hosts {
		if f.Run == "" || strings.HasPrefix(k, f.Run+"/") {
			out = append(out, providers.Resource{Kind: "host", ID: h.Addr()})
		}
	}
	return out, nil
}

func testPlan(p providers.Provider, steps ...Step) Plan {
	now := time.Now()
	return Plan{
		Provider: p, Display: "Test", User: "root", Lane: "kvm", Steps: steps,
		Identity:    providers.Identity{RunID: "1", Key: "test", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		TTL:         time.Hour,
		ReadyPoll:   10 * time.Millisecond,
		DialBackoff: 10 * time.Millisecond,
	}
}

func requireRootHosts(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("sshd test hosts need root (and Debian's openssh-server); run the tests as root, as CI does")
	}
}

// The overall deadline ends the work early enough to leave the teardown
// budget: a step that outlives it is stopped, the host is torn down, and
// the leg reads timed out.
func TestDeadlineKeepsTheTeardownBudget(t *testing.T) {
	requireRootHosts(t)
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "long", Run: "sleep 60", Column: matrix.LiveCycle})
	plan.Timeout, plan.TeardownBudget = 3*time.Second, time.Second
	res := Run(context.Background(), plan)
	if res.Outcome != Cancelled || !strings.Contains(res.FirstFailure, "timed out") {
		t.Errorf("outcome %s, first failure %q; want cancelled, timed out", res.Outcome, res.FirstFailure)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after the deadline: %v", left)
	}
}

// A create that is cancelled after its host exists is still cleaned up:
// the destroy cleanup is pushed before the create call.
func TestCancelDuringProvisionCleansUp(t *testing.T) {
	requireRootHosts(t)
	p := &hostProvider{blockCreate: true}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	plan.Journal = providers.JournalFunc(func(providers.Resource) { once.Do(cancel) })
	res := Run(ctx, plan)
	if res.Outcome != Cancelled {
		t.Errorf("outcome %s, want cancelled", res.Outcome)
	}
	if len(res.Created) != 1 {
		t.Fatalf("created %v, want the one host", res.Created)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after cancelling the create: %v", left)
	}
	if len(res.Steps) != 0 {
		t.Errorf("steps ran after cancel: %+v", res.Steps)
	}
}

// A passing leg over real SSH, without the probe: the lane given stands,
// each step's verdict lands in its column.
func TestCycleOverRealSSH(t *testing.T) {
	requireRootHosts(t)
	p := &hostProvider{}
	plan := testPlan(p,
		Step{Name: "hello", Run: `test "$(id -un)" = root && echo hi from $MVM_TEST`, Column: matrix.LiveCycle, Env: map[string]string{"MVM_TEST": "the host"}},
		Step{Name: "kvm only", Run: "true", NeedsKVM: true},
	)
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	if !strings.Contains(res.Steps[0].Output, "hi from the host") {
		t.Errorf("step output %q", res.Steps[0].Output)
	}
	row := res.Row()
	if row.Cell(matrix.LiveCycle).Status != matrix.Pass || row.Cell(matrix.Preflight).Status != matrix.Pass {
		t.Errorf("row %+v", row)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
}
