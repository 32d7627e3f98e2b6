package aws_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// newProviderSleeping is newProvider with sleep as its poll wait.
func newProviderSleeping(t *testing.T, srv *fake.Server, sleep func(context.Context, time.Duration) error) *aws.Provider {
	t.Helper()
	p, err := aws.New(options(srv, nil, env), aws.Config{RetryBackoff: func(int) time.Duration { return 0 }, Sleep: sleep})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pollSleep waits d unless ctx ends first: the tests' poll interval is a
// millisecond, so hooks that wrap it do not make a test wait.
func pollSleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// ender has EC2 end the first launch for lack of capacity the way EC2 does
// it, through shutting-down (fake.EndInstance), while the adapter waits for
// it to run: boots are held, so the instance is still pending at the
// adapter's first poll, where sleep ends it (after prepare ran on it) and
// lets later launches boot.
type ender struct {
	srv     *fake.Server
	release func()
	prepare func(fake.Instance)

	mu sync.Mutex
	id string
}

func newEnder(t *testing.T, srv *fake.Server, prepare func(fake.Instance)) *ender {
	e := &ender{srv: srv, release: srv.HoldBoots(), prepare: prepare}
	t.Cleanup(e.release)
	return e
}

func (e *ender) sleep(ctx context.Context, d time.Duration) error {
	e.mu.Lock()
	if e.id == "" {
		for _, in := range e.srv.Instances() {
			if in.State != "pending" {
				continue
			}
			if e.prepare != nil {
				e.prepare(in)
			}
			if e.srv.EndInstance(in.ID, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request") {
				e.id = in.ID
				e.release()
			}
			break
		}
	}
	e.mu.Unlock()
	return pollSleep(ctx, d)
}

// ended is the id of the instance EC2 ended, "" before it did.
func (e *ender) ended() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.id
}

// TestDestroySkipsRegionNotEnabled: a leg whose candidates name a region
// the account has not enabled (an opt-in region such as af-south-1, which
// preflight refuses, so nothing can be there) beside one it has. Teardown
// and the leak check sweep the enabled region and skip the other with a
// note naming it, instead of failing on EC2's refusal of calls there.
func TestDestroySkipsRegionNotEnabled(t *testing.T) {
	srv := fake.New(fake.Config{Booter: idleBooter, NotOptedIn: []string{"af-south-1"}})
	t.Cleanup(srv.Close)
	p := newProviderWith(t, srv, []providers.Candidate{{Region: "us-east-1"}, {Region: "af-south-1"}})
	id := identity("aws")
	req := request(id)
	req.Candidate = providers.Candidate{Region: "us-east-1"}
	if _, err := p.Create(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := p.Destroy(context.Background(), id)
	if err != nil {
		t.Fatalf("destroy = %v, want the region not enabled skipped", err)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "af-south-1") {
		t.Errorf("notes = %q, want one naming af-south-1 as skipped", rep.Notes)
	}
	if !slices.ContainsFunc(rep.Deleted, func(r providers.Resource) bool { return r.Kind == "instance" && r.Region == "us-east-1" }) {
		t.Errorf("report %+v does not name the us-east-1 instance: the enabled region was not swept", rep.Deleted)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestDestroyCutOffBetweenSweeps: a young run's teardown deletes
// everything in its first sweep and must sweep again (EC2's listings may
// not show a new resource yet), but its context is cancelled while it
// waits for the next sweep. It cannot say the region is clean: the result
// is an error or Deferred, never a clean report.
func TestDestroyCutOffBetweenSweeps(t *testing.T) {
	srv := newFake(t, idleBooter)
	id := identity("aws")
	if _, err := newProvider(t, srv, nil).Create(context.Background(), request(id), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first wait after the run's group is gone is the one between
	// sweeps: the group goes last but for a volume, which here goes with
	// its instance.
	p := newProviderSleeping(t, srv, func(c context.Context, d time.Duration) error {
		if len(srv.Groups()) == 0 {
			cancel()
		}
		return pollSleep(c, d)
	})
	rep, err := p.Destroy(ctx, id)
	if ctx.Err() == nil {
		t.Fatal("setup: destroy never waited between sweeps")
	}
	if err == nil && !rep.Deferred {
		t.Fatalf("destroy cut off between sweeps = %+v, nil: want an error or Deferred", rep)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("destroy = %v, want the cancellation named", err)
	}
	if i, g, v := srv.Live(); i+g+v != 0 {
		t.Errorf("the first sweep's deletes did not stand: %d instances, %d groups, %d volumes", i, g, v)
	}
}

// TestCleanupStopsAtWhatStaysInUse: a zone-bound candidate's launch ends
// for capacity and leaves its root volume (DeleteOnTermination off) or
// its network interface behind, which EC2 then refuses to delete as in
// use (VolumeInUse, InvalidNetworkInterface.InUse) through every sweep.
// Destroy's error names it, so the candidate loop stops there, the attempt
// not cleaned up, rather than launch the next candidate beside it. Once
// EC2 lets go, Destroy leaves nothing.
func TestCleanupStopsAtWhatStaysInUse(t *testing.T) {
	for _, tt := range []struct{ kind, op, code string }{
		{"volume", "DeleteVolume", "VolumeInUse"},
		{"network-interface", "DeleteNetworkInterface", "InvalidNetworkInterface.InUse"},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			if tt.kind == "network-interface" {
				srv.KeepInterfaces()
			}
			var left string
			e := newEnder(t, srv, func(in fake.Instance) {
				left = in.InterfaceID
				if tt.kind == "volume" {
					left = in.VolumeID
					srv.KeepVolume(in.VolumeID)
				}
			})
			var stuck atomic.Bool
			stuck.Store(true)
			srv.Inject(fakecloud.Fault{Op: tt.op, Status: http.StatusBadRequest, Code: tt.code, Message: "injected: still in use",
				When: func(fakecloud.Call) bool { return stuck.Load() }})
			p := newProviderSleeping(t, srv, e.sleep)
			id := identity("aws")
			cands := []providers.Candidate{{Zone: "us-east-1a", Type: "c8i.large"}, {Type: "m8i.large"}}
			_, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
			if e.ended() == "" {
				t.Fatalf("setup: no launch was ended (create: %v)", err)
			}
			if err == nil || !strings.Contains(err.Error(), "cleaning up that attempt failed") || !strings.Contains(err.Error(), "still in use") ||
				!strings.Contains(err.Error(), tt.kind+" "+left) {
				t.Fatalf("create = %v, want the loop stopped by a cleanup naming %s %s as still in use", err, tt.kind, left)
			}
			if len(attempts) != 1 || attempts[0].Class != providers.ClassCapacity || attempts[0].CleanedUp {
				t.Errorf("attempts = %+v, want the one ended for capacity, not cleaned up", attempts)
			}
			if n := count(srv.Ops(), "RunInstances"); n != 1 {
				t.Errorf("RunInstances calls = %d, want 1: no candidate launched beside what the first left", n)
			}
			stuck.Store(false)
			if _, err := p.Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, srv, p, id)
		})
	}
}

// TestDestroyRetriesInterfaceInUse: EC2 answers the delete of an interface
// the instance left behind with InvalidNetworkInterface.InUse a few times
// (it lets go a moment after the instance terminated). Destroy tries it
// again on the next sweeps and leaves nothing, without an error.
func TestDestroyRetriesInterfaceInUse(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.KeepInterfaces()
	p := newProvider(t, srv, nil)
	id := identity("aws")
	if _, err := p.Create(context.Background(), request(id), nil); err != nil {
		t.Fatal(err)
	}
	srv.Inject(fakecloud.Fault{Op: "DeleteNetworkInterface", Times: 2, Status: http.StatusBadRequest, Code: "InvalidNetworkInterface.InUse",
		Message: "injected: The network interface is currently in use."})
	rep, err := p.Destroy(context.Background(), id)
	if err != nil {
		t.Fatalf("destroy = %v, want the interface in use retried", err)
	}
	if n := count(srv.Ops(), "DeleteNetworkInterface"); n != 3 {
		t.Errorf("DeleteNetworkInterface calls = %d, want 3 (two in use, one that took)", n)
	}
	if !slices.ContainsFunc(rep.Deleted, func(r providers.Resource) bool { return r.Kind == "network-interface" }) {
		t.Errorf("report %+v does not name the interface", rep.Deleted)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestDestroyRetriesVolumeIncorrectState: a root volume kept after its
// instance (DeleteOnTermination off) that EC2 answers IncorrectState for
// while it is still detaching is deleted once EC2 lets it go.
func TestDestroyRetriesVolumeIncorrectState(t *testing.T) {
	srv, p, id, h := createdRun(t)
	in, _ := srv.Instance(h.ID)
	if !srv.KeepVolume(in.VolumeID) {
		t.Fatalf("setup: instance %s has no volume %q", h.ID, in.VolumeID)
	}
	srv.Inject(fakecloud.Fault{Op: "DeleteVolume", Times: 3, Status: http.StatusBadRequest, Code: "IncorrectState",
		Message: "injected: The volume is not in the available state."})
	rep, err := p.Destroy(context.Background(), id)
	if err != nil {
		t.Fatalf("destroy = %v, want IncorrectState retried", err)
	}
	if n := count(srv.Ops(), "DeleteVolume"); n != 4 {
		t.Errorf("DeleteVolume calls = %d, want 4 (three IncorrectState, one that took)", n)
	}
	if !slices.ContainsFunc(rep.Deleted, func(r providers.Resource) bool { return r.Kind == "volume" && r.ID == in.VolumeID }) {
		t.Errorf("report %+v does not name volume %s", rep.Deleted, in.VolumeID)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestListShowsShuttingDownInstance: a teardown out of time leaves the
// instance shutting down (Deferred). It still exists and may still bill,
// so the leak check's listing names it, and the post step's sweep finds it.
func TestListShowsShuttingDownInstance(t *testing.T) {
	srv, p, id, h := createdRun(t)
	srv.SetTerminationDelay(1000) // shutting down until the post step's sweeps
	o := options(srv, nil, env)
	o.PollInterval = time.Hour // no poll fits the deadline below
	slow, err := aws.New(o, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rep, err := slow.Destroy(ctx, id); err != nil || !rep.Deferred {
		t.Fatalf("setup: destroy = %+v, %v: want Deferred with the instance shutting down", rep, err)
	}
	if in, _ := srv.Instance(h.ID); in.State != "shutting-down" {
		t.Fatalf("setup: instance %s is %s, want shutting-down", h.ID, in.State)
	}
	listed, err := newProvider(t, srv, nil).List(context.Background(), id.Filter())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(listed, func(r providers.Resource) bool { return r.Kind == "instance" && r.ID == h.ID }) {
		t.Errorf("List = %+v, want instance %s, shutting down", listed, h.ID)
	}
	srv.SetTerminationDelay(0)
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}
