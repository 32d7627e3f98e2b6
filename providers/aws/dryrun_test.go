package aws_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// TestDryRunIsTheLaunch: preflight's RunInstances dry run is the request
// Create sends, parameter for parameter, but for what only the launch can
// send (its ClientToken, the user data, the run's security group, which
// does not exist at preflight) — a policy may condition on any of them.
func TestDryRunIsTheLaunch(t *testing.T) {
	for _, market := range []string{providers.MarketOnDemand, providers.MarketSpot} {
		t.Run(market, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			p := newProvider(t, srv, map[string]string{"market": market})
			id := identity("aws")
			req := request(id)
			if err := p.Preflight(context.Background(), req); err != nil {
				t.Fatalf("preflight: %v", err)
			}
			if _, err := p.Create(context.Background(), req, nil); err != nil {
				t.Fatalf("create: %v", err)
			}
			dry := srv.DryLaunches()
			insts := srv.Instances()
			if len(dry) != 1 || len(insts) != 1 {
				t.Fatalf("got %d dry runs and %d instances, want 1 of each", len(dry), len(insts))
			}
			launchOnly := map[string]bool{"ClientToken": true, "UserData": true, "NetworkInterface.1.SecurityGroupId.1": true}
			for k, v := range insts[0].Request {
				if !launchOnly[k] && dry[0][k] != v {
					t.Errorf("launch sends %s=%q, dry run %q", k, v, dry[0][k])
				}
			}
			for k, v := range dry[0] {
				if _, ok := insts[0].Request[k]; !ok && k != "DryRun" {
					t.Errorf("dry run sends %s=%q, the launch does not", k, v)
				}
			}
		})
	}
}

// TestPreflightUnderIMDSv2Policy: an SCP that denies RunInstances unless
// the instance requires IMDSv2 tokens denies the dry run as it would the
// launch; Create requires them, so the preflight must pass.
func TestPreflightUnderIMDSv2Policy(t *testing.T) {
	srv := newFake(t, idleBooter)
	noIMDSv2 := func(p map[string]string) bool { return p["MetadataOptions.HttpTokens"] != "required" }
	srv.DenyWhen("RunInstances", noIMDSv2) // the launch and its dry run
	p := newProvider(t, srv, nil)
	if err := p.Preflight(context.Background(), request(identity("aws"))); err != nil {
		t.Fatalf("preflight under an IMDSv2-only policy: %v", err)
	}
}

// TestPreflightZonelessDryRunNamesOfferingZone: for a candidate without a
// zone the dry run names the subnet Create launches in first, one in a
// zone that offers the type, rather than leave EC2 to pick a default
// subnet in a zone that may not (its Unsupported would end the leg).
func TestPreflightZonelessDryRunNamesOfferingZone(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.Unoffer("us-east-1a", "c8i.large")
	p := newProvider(t, srv, nil)
	req := request(identity("aws"))
	if err := p.Preflight(context.Background(), req); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	h, err := p.Create(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	dry := srv.DryLaunches()
	in, _ := srv.Instance(h.ID)
	if len(dry) != 1 || dry[0]["NetworkInterface.1.SubnetId"] != in.SubnetID || in.Zone != "us-east-1b" {
		t.Errorf("dry run subnet %v, launch in %s (%s), want the launch's subnet in us-east-1b", dry, in.SubnetID, in.Zone)
	}
}

// TestPreflightDryRunCapacityAnswer: a dry run answered with a lack of
// capacity (or of quota, or a transient failure that outlasts the SDK's
// retries: a 5xx, throttling) says nothing about the permission: the
// preflight passes and the launch's candidate loop deals with it. A
// refusal of the request itself still fails it.
func TestPreflightDryRunCapacityAnswer(t *testing.T) {
	tests := []struct {
		name, code string
		status     int
		wantErr    bool
		// retried: the SDK retries the answer, so it is given every time.
		retried bool
	}{
		{name: "capacity", code: "InsufficientInstanceCapacity", status: http.StatusServiceUnavailable},
		{name: "unsupported", code: "Unsupported", status: http.StatusBadRequest},
		{name: "quota", code: "VcpuLimitExceeded", status: http.StatusBadRequest},
		{name: "5xx", code: "InternalError", status: http.StatusInternalServerError, retried: true},
		{name: "unavailable", code: "Unavailable", status: http.StatusServiceUnavailable, retried: true},
		{name: "throttled", code: "RequestLimitExceeded", status: http.StatusServiceUnavailable, retried: true},
		{name: "unauthorized", code: "UnauthorizedOperation", status: http.StatusForbidden, wantErr: true},
		{name: "invalid", code: "InvalidParameterValue", status: http.StatusBadRequest, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.Inject(fakecloud.Fault{Op: "dryrun:RunInstances", Status: tt.status, Code: tt.code, Message: "injected " + tt.code})
			p := newProvider(t, srv, nil)
			err := p.Preflight(context.Background(), request(identity("aws")))
			if tt.wantErr != (err != nil) {
				t.Fatalf("preflight with the dry run answered %s: %v, want error %v", tt.code, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.code) {
				t.Errorf("error %v does not name %s", err, tt.code)
			}
			if n := count(srv.Ops(), "dryrun:RunInstances"); tt.retried && n < 2 {
				t.Errorf("dry runs = %d, want the SDK's retries run out before the answer is read", n)
			}
		})
	}
}

// TestPreflightEndpointIgnoresDryRun: an endpoint that ignores DryRun
// really creates the security group; the preflight fails (it cannot
// check the permission) and deletes the group it made.
func TestPreflightEndpointIgnoresDryRun(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.IgnoreDryRun("CreateSecurityGroup")
	p := newProvider(t, srv, nil)
	err := p.Preflight(context.Background(), request(identity("aws")))
	if err == nil || !strings.Contains(err.Error(), "instead of DryRunOperation") {
		t.Fatalf("preflight = %v, want the endpoint's success named", err)
	}
	if g := srv.Groups(); len(g) != 0 {
		t.Errorf("preflight left security groups: %+v", g)
	}
	if n := count(srv.Ops(), "DeleteSecurityGroup"); n != 1 {
		t.Errorf("DeleteSecurityGroup calls = %d, want 1 (%v)", n, srv.Ops())
	}
}

// TestPreflightEndpointIgnoresDryRunLaunch: an endpoint that ignores
// DryRun on RunInstances really launches an instance (in the VPC's default
// group, as the dry run names none). The preflight fails naming it and
// terminates it: nothing is left running, tagged or not. Under EC2's
// eventual consistency the terminate may meet InvalidInstanceID.NotFound
// and the describes after it may too: the preflight waits both out, and
// says it terminated the instance only once EC2 shows it terminated
// (it stays shutting-down for a few describes here). Where EC2 does not
// know it within the adapter's bounds, the error says to terminate it by
// hand — never a false "terminated it".
func TestPreflightEndpointIgnoresDryRunLaunch(t *testing.T) {
	for _, tt := range []struct {
		name string
		lag  int
		// terminated: the preflight ends the instance; otherwise it must
		// say to terminate it by hand.
		terminated bool
	}{
		{name: "known at once", terminated: true},
		{name: "terminate meets NotFound", lag: 2, terminated: true},
		{name: "unknown beyond the bounds", lag: 4 * ownIDTries},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.IgnoreDryRun("RunInstances")
			srv.SetConsistencyLag(tt.lag)
			srv.SetTerminationDelay(3)
			p := newProvider(t, srv, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := p.Preflight(ctx, request(identity("aws")))
			insts := srv.Instances()
			if len(insts) != 1 {
				t.Fatalf("setup: the endpoint launched %d instances, want 1 (preflight: %v)", len(insts), err)
			}
			id := insts[0].ID
			if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "ignored DryRun") {
				t.Fatalf("preflight = %v, want an error naming instance %s the endpoint launched", err, id)
			}
			if n := count(srv.Ops(), "TerminateInstances"); tt.lag > 0 && n < 2 {
				t.Fatalf("setup: %d TerminateInstances calls, want the first to meet NotFound", n)
			}
			in, _ := srv.Instance(id)
			claimed := strings.Contains(err.Error(), "; terminated it")
			switch {
			case claimed && in.State != "terminated":
				t.Errorf("preflight says it terminated %s, which is %s: %v", id, in.State, err)
			case !claimed && !strings.Contains(err.Error(), "terminate it by hand"):
				t.Errorf("preflight = %v: with %s %s, want it to say to terminate it by hand", err, id, in.State)
			}
			if !tt.terminated {
				return
			}
			if !claimed || in.State != "terminated" {
				t.Errorf("instance %s is %s after the preflight (%v), want terminated", id, in.State, err)
			}
			if i, g, v := srv.Live(); i+g+v != 0 || len(srv.Interfaces()) != 0 {
				t.Errorf("preflight left %d instances, %d groups, %d volumes, interfaces %v", i, g, v, srv.Interfaces())
			}
			if left := leftInFake(srv); len(left) > 0 {
				t.Errorf("preflight left tagged resources: %v", left)
			}
		})
	}
}
