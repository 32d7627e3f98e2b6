package aws_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// unreachable is a booted host whose port no address can listen on, so
// the fake cannot open the instance's public address in front of it; it
// records whether it was stopped, as a test host's sshd would be.
type unreachable struct{ stopped *atomic.Bool }

func (m unreachable) Addr() string { return "127.0.0.1" }
func (m unreachable) Port() int    { return 70000 }
func (m unreachable) Stop(context.Context) error {
	m.stopped.Store(true)
	return nil
}

// TestFailedBootLeavesNothing: an instance whose boot fails (the host does
// not come up, or comes up and gets no public address) ends as EC2 ends
// one it could not start, and its root volume, network interface and spot
// request go with it: after the run's Destroy the fake holds nothing and
// a host that did boot has been stopped. Before, such an instance read
// terminated at once with its volume and interface still in use, which
// nothing could delete.
func TestFailedBootLeavesNothing(t *testing.T) {
	var stopped atomic.Bool
	booters := map[string]fakecloud.Booter{
		"boot fails": fakecloud.BooterFunc(func(context.Context, fakecloud.BootSpec) (fakecloud.Machine, error) {
			return nil, errors.New("the host did not come up")
		}),
		"no public address": fakecloud.BooterFunc(func(context.Context, fakecloud.BootSpec) (fakecloud.Machine, error) {
			return unreachable{&stopped}, nil
		}),
	}
	for name, b := range booters {
		t.Run(name, func(t *testing.T) {
			srv := newFake(t, b)
			p := newProvider(t, srv, map[string]string{"market": "spot"})
			id := identity("aws")
			if _, err := p.Create(context.Background(), request(id), nil); err == nil {
				t.Fatal("create succeeded with a host that failed to boot")
			}
			if len(srv.Instances()) == 0 || len(srv.SpotRequests()) == 0 {
				t.Fatalf("setup: no spot instance was launched: %+v", srv.Instances())
			}
			if _, err := newProvider(t, srv, map[string]string{"market": "spot"}).Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, srv, p, id)
			for _, r := range srv.SpotRequests() {
				if r.State != "closed" {
					t.Errorf("spot request %s is %s, want closed with its instance", r.ID, r.State)
				}
			}
			if name == "no public address" && !stopped.Load() {
				t.Error("the host that booted was never stopped")
			}
		})
	}
}
