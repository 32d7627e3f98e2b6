package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// bootedProvider boots real sshd test hosts as a cloud provider boots an
// instance from the run's user data: the run's host key, cloud-init and
// systemd emulated (testhost.Options.Cloud), a ready marker. boot, when
// set, sets the host up before the cycle reaches it (what cloud-init and
// systemd report, whether the marker exists yet).
type bootedProvider struct {
	*hostProvider
	marker string
	boot   func(h *testhost.Host) error
}

func (p bootedProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	h, err := testhost.Boot(ctx, testhost.Options{
		HostKeyPEM: req.HostKeyPEM,
		Users:      []testhost.User{testHostUser(req.ClientAuthorizedKey)},
		Cloud:      true,
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
	if p.boot != nil {
		if err := p.boot(h); err != nil {
			return nil, err
		}
	}
	return &providers.Host{Address: h.Addr(), Port: h.Port(), User: testUser, HostKey: req.HostKey, Type: "test",
		CloudInit: true, ReadyMarker: p.marker}, nil
}

// writtenMarker is a ready marker that exists, where testUser can see it.
func writtenMarker(t *testing.T) string {
	t.Helper()
	marker := filepath.Join(hostDir(t), "ready")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return marker
}

// Once the ready marker exists, the ready phase asks cloud-init whether
// it finished well and systemd whether the system finished booting: a
// cloud-init error fails the phase naming cloud-init even though runcmd
// wrote the marker; recovered errors, a degraded system and a host
// without systemd are notices; a system in maintenance fails it.
func TestReadyOnABootedHostAsksCloudInitAndSystemd(t *testing.T) {
	testhost.RequireRoot(t)
	for _, tc := range []struct {
		name      string
		cloudInit testhost.CloudInitState
		system    testhost.SystemState
		fail      []string // what the ready phase's error says; nil: passes
		notice    []string // what the leg's notices say
	}{
		{name: "done and running", cloudInit: testhost.CloudInitState{Status: "done"}, system: testhost.SystemState{State: "running"}},
		{name: "cloud-init error", cloudInit: testhost.CloudInitState{Status: "error"}, system: testhost.SystemState{State: "running"},
			fail: []string{"cloud-init finished with an error", "status: error", "exited 1", "ready marker"}},
		{name: "recovered errors", cloudInit: testhost.CloudInitState{Status: "done", Recoverable: true}, system: testhost.SystemState{State: "running"},
			notice: []string{"cloud-init finished with errors it recovered from", "status: done", "exited 2"}},
		{name: "degraded", cloudInit: testhost.CloudInitState{Status: "done"},
			system: testhost.SystemState{State: "degraded", Failed: []string{"apt-daily.service", "data.mount"}},
			notice: []string{"degraded", "apt-daily.service, data.mount"}},
		{name: "no systemd", cloudInit: testhost.CloudInitState{Status: "done"}, system: testhost.SystemState{State: "offline"},
			notice: []string{"could not tell whether systemd finished booting", "offline"}},
		{name: "maintenance", cloudInit: testhost.CloudInitState{Status: "done"}, system: testhost.SystemState{State: "maintenance"},
			fail: []string{"did not finish booting", `"maintenance"`, "expected running or degraded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hp := &hostProvider{}
			p := bootedProvider{hostProvider: hp, marker: writtenMarker(t), boot: func(h *testhost.Host) error {
				if err := h.SetCloudInit(tc.cloudInit); err != nil {
					return err
				}
				return h.SetSystem(tc.system)
			}}
			plan := testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
			out := newWatchWriter("\x00")
			plan.Out = out
			res := Run(context.Background(), plan)
			pr := res.Phase(PhaseReady)
			if pr == nil {
				t.Fatalf("no ready phase: %+v\n%s", res.Phases, out)
			}
			if tc.fail != nil {
				if pr.Status != matrix.Fail {
					t.Fatalf("ready %+v, want failed\n%s", pr, out)
				}
				for _, want := range tc.fail {
					if !strings.Contains(pr.Error, want) {
						t.Errorf("ready error %q lacks %q", pr.Error, want)
					}
				}
				if res.Phase(PhaseSuite) != nil {
					t.Errorf("the suite ran after ready failed: %+v", res.Phases)
				}
				if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
					t.Errorf("teardown %+v, want passed", td)
				}
				return
			}
			if pr.Status != matrix.Pass {
				t.Fatalf("ready %+v, want passed\n%s", pr, out)
			}
			notices := strings.Join(res.Notices, "\n")
			for _, want := range tc.notice {
				if !strings.Contains(notices, want) {
					t.Errorf("notices %q lack %q", res.Notices, want)
				}
			}
			if tc.notice == nil && len(res.Notices) > 0 {
				t.Errorf("notices %q on a host that booted well", res.Notices)
			}
		})
	}
}

// A connection lost while the ready phase waits for the marker is
// redialed: the host goes on booting, writes its marker, and is ready.
func TestReadyRedialsAConnectionLostWaitingForTheMarker(t *testing.T) {
	testhost.RequireRoot(t)
	p, marker, hosts := stillBooting(t)
	plan := testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
	// A clock a minute on at every reading, so each check of the marker
	// prints its progress line: the test sees that the wait has begun.
	var ticks atomic.Int64
	start := time.Now()
	plan.Now = func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Minute) }
	out := newWatchWriter("waiting for cloud-init (status: running)")
	plan.Out = out
	done := make(chan *Result, 1)
	go func() { done <- Run(context.Background(), plan) }()
	select {
	case <-out.seen:
	case res := <-done:
		t.Fatalf("the run ended before waiting for the marker: %s (%s)\n%s", res.Outcome, res.FirstFailure, out)
	}
	h := <-hosts
	if _, err := h.DropConnections(); err != nil {
		t.Fatal(err)
	}
	const reconnected = "reconnected with the same keys to wait for the host to be ready"
	for !strings.Contains(out.String(), reconnected) {
		select {
		case res := <-done:
			t.Fatalf("the run ended without reconnecting: %s (%s)\n%s", res.Outcome, res.FirstFailure, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
	// cloud-init finishes on the host: its last runcmd writes the marker.
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.SetCloudInit(testhost.CloudInitState{Status: "done"}); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if pr := res.Phase(PhaseReady); pr == nil || pr.Status != matrix.Pass {
		t.Fatalf("ready %+v, want passed after the reconnect\n%s", pr, out)
	}
	if st := res.Phase(PhaseSuite); st == nil {
		t.Errorf("the suite did not run: %+v", res.Phases)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
}

// stillBooting is a provider booting one host whose cloud-init is still
// running and whose marker (at marker) is not written yet; the host is
// sent on hosts once booted, for the test to drop its connections or
// finish its boot.
func stillBooting(t *testing.T) (p bootedProvider, marker string, hosts chan *testhost.Host) {
	t.Helper()
	marker = filepath.Join(hostDir(t), "ready")
	hosts = make(chan *testhost.Host, 1)
	p = bootedProvider{hostProvider: &hostProvider{}, marker: marker, boot: func(h *testhost.Host) error {
		hosts <- h
		return h.SetCloudInit(testhost.CloudInitState{Status: "running"})
	}}
	return p, marker, hosts
}
