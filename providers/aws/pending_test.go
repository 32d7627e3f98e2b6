package aws_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// TestDestroyFindsPendingInstance: main is cut off while its instance is
// still pending (its boot held), on an EC2 that does not list a pending
// instance's root volume yet, so nothing but the instance's own tags leads
// to it. A fresh adapter's Destroy lists pending instances too, terminates
// it and leaves nothing.
func TestDestroyFindsPendingInstance(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.HideVolumesWhilePending()
	release := srv.HoldBoots()
	defer release()
	main := newProvider(t, srv, nil)
	id := identity("aws")
	ctx := cancelledWhenPolled(t, srv)
	if _, err := main.Create(ctx, request(id), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("create = %v, want cancelled while waiting for running", err)
	}
	insts := srv.Instances()
	if len(insts) != 1 || insts[0].State != "pending" {
		t.Fatalf("setup: instances = %+v, want one pending", insts)
	}
	post := newProvider(t, srv, nil)
	rep, err := post.Destroy(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := srv.Instance(insts[0].ID); in.State != "terminated" {
		t.Errorf("the pending instance is %s after teardown, want terminated (report %+v)", in.State, rep)
	}
	if !slices.ContainsFunc(rep.Deleted, func(r providers.Resource) bool { return r.Kind == "instance" && r.ID == insts[0].ID }) {
		t.Errorf("report %+v does not name instance %s", rep.Deleted, insts[0].ID)
	}
	assertNothingLeft(t, srv, post, id)
}

// TestLaunchEndedForCapacity: EC2 accepts the launch (pending) and then
// ends the instance for lack of capacity before it runs, saying so in its
// state reason. That is a capacity failure like a refused launch: for a
// candidate bound to its zone, the candidate loop deletes what the attempt
// made and tries the next candidate, which runs.
func TestLaunchEndedForCapacity(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.EndLaunches(1, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request")
	p := newProvider(t, srv, nil)
	id := identity("aws")
	cands := []providers.Candidate{{Zone: "us-east-1a", Type: "c8i.large"}, {Type: "m8i.large"}}
	h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatalf("create: %v (attempts %+v)", err, attempts)
	}
	if len(attempts) != 2 || attempts[0].Class != providers.ClassCapacity || attempts[0].Code != "InsufficientInstanceCapacity" ||
		!attempts[0].CleanedUp || attempts[0].Candidate.Type != "c8i.large" || !attempts[1].OK || attempts[1].Candidate.Type != "m8i.large" {
		t.Fatalf("attempts = %+v, want c8i.large ended for capacity and cleaned up, then m8i.large", attempts)
	}
	if in, _ := srv.Instance(h.ID); in.Type != "m8i.large" || in.State != "running" {
		t.Errorf("host instance = %+v, want m8i.large running", in)
	}
	// The first attempt's group went before the second launch.
	ops := srv.Ops()
	var launches []int
	for i, op := range ops {
		if op == "RunInstances" {
			launches = append(launches, i)
		}
	}
	if del := slices.Index(ops, "DeleteSecurityGroup"); len(launches) != 2 || del < launches[0] || del > launches[1] {
		t.Errorf("the ended attempt's group was not deleted between the two launches: %v", ops)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// launchTokens lists the ClientToken of every RunInstances the fake saw.
func launchTokens(srv *fake.Server) []string {
	var out []string
	for _, c := range srv.Calls() {
		if c.Op == "RunInstances" {
			out = append(out, c.Params["ClientToken"])
		}
	}
	return out
}

// TestClientTokenPerAttempt: the first candidate (zone us-east-1a) is
// accepted and then ended for capacity; the candidate loop cleans it up,
// security group included, and the second candidate (the region, no zone)
// launches in us-east-1a again with a new group. EC2 keeps a token for a
// day after its instance ended, so reusing the first attempt's token with
// the new group would be IdempotentParameterMismatch and stop the run:
// each attempt has a token of its own.
func TestClientTokenPerAttempt(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.EndLaunches(1, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request")
	p := newProvider(t, srv, nil)
	id := identity("aws")
	cands := []providers.Candidate{{Region: "us-east-1", Zone: "us-east-1a"}, {Region: "us-east-1"}}
	h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatalf("create: %v (attempts %+v)", err, attempts)
	}
	if len(attempts) != 2 || attempts[0].Class != providers.ClassCapacity || !attempts[0].CleanedUp ||
		!attempts[1].OK || attempts[1].Candidate.Zone != "us-east-1a" {
		t.Fatalf("attempts = %+v, want us-east-1a ended for capacity and cleaned up, then us-east-1a again", attempts)
	}
	tokens := launchTokens(srv)
	if len(tokens) != 2 || tokens[0] == "" || tokens[0] == tokens[1] {
		t.Errorf("ClientTokens = %q, want one of its own per attempt", tokens)
	}
	if insts := srv.Instances(); len(insts) != 2 || insts[0].ID == h.ID || insts[1].ID != h.ID || insts[1].State != "running" {
		t.Errorf("instances = %+v, want the ended one and the host %s running", insts, h.ID)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestClientTokenPerAttemptGroupLeft: as TestClientTokenPerAttempt, but
// EC2 will not delete the security group (DependencyViolation however
// long the cleanup waits). The candidate loop stops there, the attempt
// not counted as cleaned up, rather than leave one more partial attempt
// behind per candidate. A later Create for the same identity (a caller
// trying again) finds the same group by name; its launch must still be
// an attempt of its own: a new token, a new instance, not the ended one
// handed back for the old token. Destroy names the group while it stays,
// as the leak check does.
func TestClientTokenPerAttemptGroupLeft(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.EndLaunches(1, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request")
	var stuck atomic.Bool
	stuck.Store(true)
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Times: 1000, Status: 400, Code: "DependencyViolation",
		Message: "resource has a dependent object", When: func(fakecloud.Call) bool { return stuck.Load() }})
	p := newProvider(t, srv, nil)
	id := identity("aws")
	cands := []providers.Candidate{{Region: "us-east-1", Zone: "us-east-1a"}, {Region: "us-east-1"}}
	_, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
	if err == nil || !strings.Contains(err.Error(), "cleaning up that attempt failed") || !strings.Contains(err.Error(), "still in use") {
		t.Fatalf("create = %v, want the loop stopped at the cleanup that left the group", err)
	}
	if len(attempts) != 1 || attempts[0].Class != providers.ClassCapacity || attempts[0].CleanedUp || attempts[0].Candidate.Zone != "us-east-1a" {
		t.Fatalf("attempts = %+v, want us-east-1a ended for capacity and not cleaned up (its group stayed), and no other", attempts)
	}
	if gs := srv.Groups(); len(gs) != 1 {
		t.Fatalf("groups = %+v, want the one group, left behind", gs)
	}
	req := request(id)
	req.Candidate = cands[1]
	h, err := p.Create(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("create again: %v", err)
	}
	if h.Zone != "us-east-1a" {
		t.Errorf("host in %s, want us-east-1a again", h.Zone)
	}
	if gs := srv.Groups(); len(gs) != 1 {
		t.Fatalf("groups = %+v, want the one group, used again", gs)
	}
	tokens := launchTokens(srv)
	if len(tokens) != 2 || tokens[0] == "" || tokens[0] == tokens[1] {
		t.Errorf("ClientTokens = %q, want one of its own per attempt though the group is the same", tokens)
	}
	if insts := srv.Instances(); len(insts) != 2 || insts[0].ID == h.ID || insts[1].ID != h.ID || insts[1].State != "running" {
		t.Errorf("instances = %+v, want the ended one and the host %s running", insts, h.ID)
	}

	sg := srv.Groups()[0].ID
	_, err = p.Destroy(context.Background(), id)
	if err == nil || !strings.Contains(err.Error(), "security-group "+sg) || !strings.Contains(err.Error(), "still in use") {
		t.Errorf("destroy with the group still in use = %v, want an error naming security-group %s", err, sg)
	}
	leaked, err := providers.LeakCheck(context.Background(), p, id)
	if err != nil {
		t.Fatalf("leak check: %v", err)
	}
	if len(leaked) != 1 || leaked[0].ID != sg {
		t.Errorf("leak check = %+v, want the group %s", leaked, sg)
	}

	stuck.Store(false)
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestLaunchEndedTriesTheNextZone: a zone-less candidate whose launch EC2
// accepted in us-east-1a and then ended for capacity goes on to the next
// zone, as a launch refused for capacity does: the ended instance is
// terminated first, and the zone tried is a row of its own.
func TestLaunchEndedTriesTheNextZone(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.EndLaunches(1, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request")
	p := newProvider(t, srv, nil)
	id := identity("aws")
	h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), []providers.Candidate{{Region: "us-east-1"}}, nil,
		providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatalf("create: %v (attempts %+v)", err, attempts)
	}
	want := []providers.Attempt{
		{Candidate: providers.Candidate{Region: "us-east-1", Zone: "us-east-1a", Type: "c8i.large", Market: "on-demand"},
			Class: providers.ClassCapacity, Code: "InsufficientInstanceCapacity"},
		{Candidate: providers.Candidate{Region: "us-east-1", Zone: "us-east-1b", Type: "c8i.large", Market: "on-demand"}, OK: true},
	}
	if len(attempts) != len(want) {
		t.Fatalf("attempts = %+v, want %+v", attempts, want)
	}
	for i, a := range attempts {
		if a.Candidate != want[i].Candidate || a.OK != want[i].OK || a.Class != want[i].Class || a.Code != want[i].Code {
			t.Errorf("attempt %d = %+v, want %+v", i+1, a, want[i])
		}
	}
	insts := srv.Instances()
	if len(insts) != 2 || insts[0].State != "terminated" || insts[1].ID != h.ID || h.Zone != "us-east-1b" {
		t.Fatalf("instances = %+v, host %+v: want the ended one terminated and the host in us-east-1b", insts, h)
	}
	// Terminated by the adapter, before the next launch: EC2 ends such an
	// instance itself, but not always at once.
	ops := srv.Ops()
	term := slices.Index(ops, "TerminateInstances")
	if last := slices.Index(ops[term+1:], "RunInstances"); term < 0 || last < 0 {
		t.Errorf("ops = %v, want the ended instance terminated before the next launch", ops)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestLaunchEndedNotTerminatedStops: the launch in us-east-1a ends for
// capacity, and EC2 refuses to terminate it (UnauthorizedOperation), or
// answers the terminate itself with a lack of capacity. The run stops
// there, classed by the refusal (a capacity answer to the cleanup is
// unknown, not capacity, since it would move the loops on): no other zone
// or candidate is launched while an instance the run could not end may
// still be there.
func TestLaunchEndedNotTerminatedStops(t *testing.T) {
	for _, tt := range []struct {
		name, code string
		status     int
		class      providers.Class
		wantCode   string
	}{
		{name: "unauthorized", code: "UnauthorizedOperation", status: 403, class: providers.ClassAuth, wantCode: "UnauthorizedOperation"},
		{name: "capacity", code: "InsufficientInstanceCapacity", status: 500, class: providers.ClassUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.EndLaunches(1, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request")
			srv.Inject(fakecloud.Fault{Op: "TerminateInstances", Times: 1, Status: tt.status, Code: tt.code, Message: "injected " + tt.code})
			p := newProvider(t, srv, nil)
			id := identity("aws")
			cands := []providers.Candidate{{Region: "us-east-1"}, {Region: "us-east-1", Type: "m8i.large"}}
			_, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
			if err == nil {
				t.Fatalf("create succeeded (attempts %+v), want it stopped by the failed termination", attempts)
			}
			if n := count(srv.Ops(), "RunInstances"); n != 1 {
				t.Errorf("RunInstances calls = %d, want 1: nothing launched after the termination failed", n)
			}
			if providers.ClassOf(err) != tt.class {
				t.Errorf("class = %v, want %v: %v", providers.ClassOf(err), tt.class, err)
			}
			for _, want := range []string{"InsufficientInstanceCapacity", "terminate it", tt.code} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if len(attempts) != 1 || attempts[0].Class != tt.class || attempts[0].Code != tt.wantCode || attempts[0].Candidate.Zone != "us-east-1a" {
				t.Errorf("attempts = %+v, want one, in us-east-1a, %v (%q)", attempts, tt.class, tt.wantCode)
			}
			if _, err := p.Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, srv, p, id)
		})
	}
}

// TestLaunchEndedWaitsForTermination: EC2 ends the launch in us-east-1a
// for capacity through shutting-down, where it stays for a few describes.
// The adapter terminates it and launches in the next zone only once EC2
// shows it terminated: the next launch never runs beside it.
func TestLaunchEndedWaitsForTermination(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.SetTerminationDelay(3)
	e := newEnder(t, srv, nil)
	var mu sync.Mutex
	var states []string // of the ended instance, at each later launch
	srv.Inject(fakecloud.Fault{Op: "RunInstances", When: func(fakecloud.Call) bool {
		if ended := e.ended(); ended != "" {
			in, _ := srv.Instance(ended)
			mu.Lock()
			states = append(states, in.State)
			mu.Unlock()
		}
		return false
	}})
	p := newProviderSleeping(t, srv, e.sleep)
	id := identity("aws")
	h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), []providers.Candidate{{Region: "us-east-1"}}, nil,
		providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatalf("create: %v (attempts %+v)", err, attempts)
	}
	ended := e.ended()
	if ended == "" || len(attempts) != 2 || attempts[0].Class != providers.ClassCapacity || h.Zone != "us-east-1b" {
		t.Fatalf("setup: ended %q, attempts %+v, host in %s: want us-east-1a ended for capacity, then us-east-1b", ended, attempts, h.Zone)
	}
	mu.Lock()
	if len(states) != 1 || states[0] != "terminated" {
		t.Errorf("ended instance %s at the next launch: %v, want terminated", ended, states)
	}
	mu.Unlock()
	// In the fake's log: the terminate, then a describe of the instance
	// (the one that shows it terminated), then the next launch.
	term, seen, next := -1, -1, -1
	for i, c := range srv.Calls() {
		switch {
		case c.Op == "TerminateInstances" && c.Params["InstanceId.1"] == ended && term < 0:
			term = i
		case c.Op == "DescribeInstances" && c.Params["InstanceId.1"] == ended && term >= 0 && next < 0:
			seen = i
		case c.Op == "RunInstances" && term >= 0 && next < 0:
			next = i
		}
	}
	if term < 0 || seen < 0 || next < 0 {
		t.Errorf("calls: terminate %d, describe after it %d, next launch %d: want the ended instance described after its terminate, before the next launch: %v",
			term, seen, next, srv.Ops())
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestSpotReclaimedWhilePending: EC2 accepts each spot launch and then
// reclaims the instance before it runs (Server.SpotInstanceTermination or
// Server.SpotInstanceShutdown in its state reason). For a spot launch that
// is a lack of spot capacity, so with spot-failover the zones are tried
// and then the on-demand twin, which runs. An instance that ends for a
// reason that says nothing of capacity stops the run instead.
func TestSpotReclaimedWhilePending(t *testing.T) {
	for _, tt := range []struct {
		name, code, message string
		wantClass           providers.Class
	}{
		{"termination", "Server.SpotInstanceTermination", "Server.SpotInstanceTermination: A Spot Instance was terminated due to an increase in the Spot price.", providers.ClassCapacity},
		{"shutdown", "Server.SpotInstanceShutdown", "Server.SpotInstanceShutdown: The instance was stopped because the number of Spot requests with a maximum price equal to or higher than the Spot price exceeded available capacity or because of an increase in the Spot price.", providers.ClassCapacity},
		{"not capacity", "Client.InternalError", "Client.InternalError: Client error on launch", providers.ClassUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.EndLaunches(3, tt.code, tt.message)
			p := newProvider(t, srv, map[string]string{"market": "spot"})
			id := identity("aws")
			// What the spot-failover input makes of it (internal/config).
			od := p.DefaultCandidate()
			od.Market = providers.MarketOnDemand
			cands := []providers.Candidate{p.DefaultCandidate(), od}
			h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
			if tt.wantClass != providers.ClassCapacity {
				if providers.ClassOf(err) != tt.wantClass || len(attempts) != 1 {
					t.Fatalf("err = %v, attempts %+v: want one attempt, %v", err, attempts, tt.wantClass)
				}
			} else {
				if err != nil {
					t.Fatalf("create: %v (attempts %+v)", err, attempts)
				}
				if len(attempts) != 4 || !attempts[3].OK || attempts[3].Candidate.Market != providers.MarketOnDemand {
					t.Fatalf("attempts = %+v, want three spot zones reclaimed, then on-demand", attempts)
				}
				for i, z := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
					if a := attempts[i]; a.Candidate.Market != providers.MarketSpot || a.Candidate.Zone != z || a.Class != providers.ClassCapacity || a.Code != tt.code {
						t.Errorf("attempt %d = %+v, want spot in %s reclaimed (capacity, %s)", i+1, a, z, tt.code)
					}
				}
				if in, _ := srv.Instance(h.ID); in.Spot || in.State != "running" {
					t.Errorf("host instance = %+v, want on-demand running", in)
				}
			}
			if _, err := p.Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, srv, p, id)
		})
	}
}
