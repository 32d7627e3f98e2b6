package aws_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// ownIDTries is the adapter's bound (inUseTries) on the calls that wait
// for EC2 to know an id the run just created.
const ownIDTries = 12

// TestCreateUnderWriteLag: EC2's write calls are eventually consistent
// too. Under a lag of 2, AuthorizeSecurityGroupIngress and RunInstances
// each answer InvalidGroup.NotFound for the run's new group twice. The
// adapter waits them out in the same attempt: one attempt, one group, one
// instance, and nothing left after Destroy.
func TestCreateUnderWriteLag(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.SetConsistencyLag(2)
	p := newProvider(t, srv, nil)
	id := identity("aws")
	cands := []providers.Candidate{{Type: "c8i.large"}, {Type: "m8i.large"}}
	_, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatalf("create: %v (attempts %+v)", err, attempts)
	}
	if len(attempts) != 1 || !attempts[0].OK {
		t.Errorf("attempts = %+v, want the first candidate to succeed on its own", attempts)
	}
	ops := srv.Ops()
	if n := count(ops, "AuthorizeSecurityGroupIngress"); n != 3 {
		t.Errorf("AuthorizeSecurityGroupIngress calls = %d, want 3 (two meet the lag)", n)
	}
	if n := count(ops, "RunInstances"); n != 3 {
		t.Errorf("RunInstances calls = %d, want 3 (two meet the lag)", n)
	}
	if g, i := srv.Groups(), srv.Instances(); len(g) != 1 || len(i) != 1 {
		t.Fatalf("fake holds %d groups and %d instances, want 1 of each", len(g), len(i))
	}
	if ing := srv.Groups()[0].Ingress; len(ing) != 1 || ing[0].CIDR != "203.0.113.7/32" {
		t.Errorf("group ingress = %+v, want tcp/22 from the source only", ing)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestOwnIDStillUnknownIsTransient: a group EC2 keeps calling unknown for
// longer than the adapter's bound is a transient failure of the attempt,
// after a bounded number of tries, not a refusal that stops the run.
func TestOwnIDStillUnknownIsTransient(t *testing.T) {
	for _, op := range []string{"AuthorizeSecurityGroupIngress", "RunInstances"} {
		t.Run(op, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.Inject(fakecloud.Fault{Op: op, Status: 400, Code: "InvalidGroup.NotFound", Message: "injected: The security group does not exist"})
			p := newProvider(t, srv, nil)
			_, err := p.Create(context.Background(), request(identity("aws")), nil)
			if got := providers.ClassOf(err); got != providers.ClassTransient {
				t.Fatalf("create = %v (class %s), want transient", err, got)
			}
			if n := count(srv.Ops(), op); n != ownIDTries {
				t.Errorf("%s calls = %d, want %d", op, n, ownIDTries)
			}
		})
	}
}

// TestLaunchEndedUnderWriteLag: EC2 ends a launch for capacity a moment
// after RunInstances, and the adapter's TerminateInstances of it meets the
// write lag (InvalidInstanceID.NotFound). The adapter waits until EC2
// knows the instance and terminates it, and the next candidate runs.
func TestLaunchEndedUnderWriteLag(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.SetConsistencyLag(2)
	srv.EndLaunches(1, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request")
	p := newProvider(t, srv, nil)
	id := identity("aws")
	cands := []providers.Candidate{{Zone: "us-east-1a", Type: "c8i.large"}, {Type: "m8i.large"}}
	_, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatalf("create: %v (attempts %+v)", err, attempts)
	}
	if len(attempts) != 2 || attempts[0].Class != providers.ClassCapacity || !attempts[0].CleanedUp || !attempts[1].OK {
		t.Fatalf("attempts = %+v, want c8i.large ended for capacity and cleaned up, then m8i.large", attempts)
	}
	if n := count(srv.Ops(), "TerminateInstances"); n < 3 {
		t.Errorf("TerminateInstances calls = %d, want the lag's two and the one that took", n)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestDestroyTerminatesWhatEC2DoesNotKnowYet: two instances of the run,
// each a moment old, so TerminateInstances of both fails
// (InvalidInstanceID.NotFound names any id EC2 does not know yet). Destroy
// terminates each on its own until EC2 knows it, and leaves nothing tagged.
func TestDestroyTerminatesWhatEC2DoesNotKnowYet(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.SetConsistencyLag(2)
	p := newProvider(t, srv, nil)
	id := identity("aws")
	for _, typ := range []string{"c8i.large", "m8i.large"} {
		req := request(id)
		req.Candidate = providers.Candidate{Type: typ}
		if _, err := p.Create(context.Background(), req, nil); err != nil {
			t.Fatalf("create %s: %v", typ, err)
		}
	}
	if i, _, _ := srv.Live(); i != 2 {
		t.Fatalf("setup: %d instances, want 2", i)
	}
	// A guard, not a timing assertion: an adapter that skipped the unknown
	// ids would wait for them to terminate for ever.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := newProvider(t, srv, nil).Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	var both, single int
	for _, c := range srv.Calls() {
		if c.Op != "TerminateInstances" {
			continue
		}
		if c.Params["InstanceId.2"] != "" {
			both++
		} else {
			single++
		}
	}
	if both == 0 || single < 2 {
		t.Errorf("TerminateInstances: %d of both, %d of one: want the failed call of both, then each on its own", both, single)
	}
	if slices.ContainsFunc(srv.Instances(), func(in fake.Instance) bool { return in.State != "terminated" }) {
		t.Errorf("instances left: %+v", srv.Instances())
	}
	assertNothingLeft(t, srv, p, id)
}

// TestDestroyLeavesGroupWhileInstanceUnknown: EC2 does not know the run's
// instance for a whole sweep's tries (TerminateInstances answers NotFound
// 13 times: the batch call, then inUseTries single ones). That sweep does
// not try the group or the volume the instance holds (each would meet
// DependencyViolation or VolumeInUse for inUseTries polls); the next
// sweep terminates the instance and deletes them, each with one call.
func TestDestroyLeavesGroupWhileInstanceUnknown(t *testing.T) {
	srv, p, id, _ := createdRun(t)
	srv.Inject(fakecloud.Fault{Op: "TerminateInstances", Times: 13, Status: http.StatusBadRequest, Code: "InvalidInstanceID.NotFound",
		Message: "The instance ID does not exist"})
	// A guard, not a timing assertion: an adapter that waited for the
	// unknown instance, or for the group it holds, would wait for ever.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := newProvider(t, srv, nil).Destroy(ctx, id)
	if ctx.Err() != nil {
		t.Fatalf("destroy did not end before the guard's deadline (it waits for ever on the instance EC2 did not know, or on its group): %v", err)
	}
	if err != nil || rep.Deferred {
		t.Fatalf("destroy = %v (deferred %v, notes %q), want it done: deferred is a wait that ran into the guard's deadline", err, rep.Deferred, rep.Notes)
	}
	ops := srv.Ops()
	if n := count(ops, "DeleteSecurityGroup"); n != 1 {
		t.Errorf("DeleteSecurityGroup calls = %d, want 1, after the instance was terminated: %v", n, ops)
	}
	if n := count(ops, "DeleteVolume"); n > 1 {
		t.Errorf("DeleteVolume calls = %d, want at most 1: %v", n, ops)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestLaunchEndedStillUnknown: EC2 ends a launch for capacity, and its
// TerminateInstances of it keeps answering NotFound beyond the adapter's
// bound (the batch call, then ownIDTries single ones). The attempt was
// not cleaned up: it fails transient, naming the instance EC2 does not
// know, so the candidate loop retries the same candidate rather than move
// on to another zone. The instance is still found by its tags later:
// Destroy leaves nothing tagged.
func TestLaunchEndedStillUnknown(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.EndLaunches(1, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request")
	srv.Inject(fakecloud.Fault{Op: "TerminateInstances", Times: 1 + ownIDTries, Status: http.StatusBadRequest, Code: "InvalidInstanceID.NotFound",
		Message: "The instance ID does not exist"})
	p := newProvider(t, srv, nil)
	id := identity("aws")
	req := request(id)
	req.Candidate = providers.Candidate{Zone: "us-east-1a", Type: "c8i.large"}
	_, err := p.Create(context.Background(), req, nil)
	if got := providers.ClassOf(err); got != providers.ClassTransient || !strings.Contains(err.Error(), "EC2 does not know instance") {
		t.Fatalf("create = %v (class %s), want transient saying EC2 does not know the instance", err, got)
	}
	if n := count(srv.Ops(), "RunInstances"); n != 1 {
		t.Errorf("RunInstances calls = %d, want 1: the attempt stops at the instance it could not terminate", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := newProvider(t, srv, nil).Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestDestroyDoesNotReportUnknownInstance: EC2 never knows the run's
// instance (TerminateInstances answers NotFound for ever). Destroy's error
// names it as not deleted, and its report does not list it as deleted.
func TestDestroyDoesNotReportUnknownInstance(t *testing.T) {
	srv, _, id, h := createdRun(t)
	srv.Inject(fakecloud.Fault{Op: "TerminateInstances", Status: http.StatusBadRequest, Code: "InvalidInstanceID.NotFound",
		Message: "The instance ID does not exist"})
	// A guard, not a timing assertion: an adapter that waited for the
	// unknown instance to terminate would wait for ever.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := newProvider(t, srv, nil).Destroy(ctx, id)
	if ctx.Err() != nil {
		t.Fatalf("destroy did not end before the guard's deadline: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), h.ID) || !strings.Contains(err.Error(), "not deleted") {
		t.Fatalf("destroy = %v, want an error naming instance %s as not deleted", err, h.ID)
	}
	for _, r := range rep.Deleted {
		if r.ID == h.ID {
			t.Errorf("report lists instance %s as deleted, though EC2 never terminated it: %+v", h.ID, rep.Deleted)
		}
	}
	if in, _ := srv.Instance(h.ID); in.State != "running" {
		t.Errorf("setup: instance %s is %s, want running (never terminated)", h.ID, in.State)
	}
}

// TestDestroyTerminatesUnknownInOneSweep: EC2 does not know the run's
// instance for the batch call and two single ones. Terminate waits it out
// within the sweep (untilKnown), so every TerminateInstances call comes
// before the second listing of instances: one that tried each id once and
// left it to the next sweep would still clean up, a sweep later. Once
// terminated, the instance is still unknown to the next few describes of
// it, and then shutting down for a few more: a NotFound while EC2 lags is
// not the instance gone, so it is reported deleted, and its group
// deleted, only once EC2 shows it terminated.
func TestDestroyTerminatesUnknownInOneSweep(t *testing.T) {
	srv, p, id, h := createdRun(t)
	srv.Inject(fakecloud.Fault{Op: "TerminateInstances", Times: 3, Status: http.StatusBadRequest, Code: "InvalidInstanceID.NotFound",
		Message: "The instance ID does not exist"})
	srv.Inject(fakecloud.Fault{Op: "DescribeInstances", Times: 3, Status: http.StatusBadRequest, Code: "InvalidInstanceID.NotFound",
		Message: "The instance ID does not exist", When: func(c fakecloud.Call) bool { return c.Params["InstanceId.1"] == h.ID }})
	srv.SetTerminationDelay(3)
	var mu sync.Mutex
	var states []string // of the instance, at each DeleteSecurityGroup
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", When: func(fakecloud.Call) bool {
		in, _ := srv.Instance(h.ID)
		mu.Lock()
		states = append(states, in.State)
		mu.Unlock()
		return false
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := newProvider(t, srv, nil).Destroy(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(states) == 0 || states[0] != "terminated" {
		t.Errorf("instance states at DeleteSecurityGroup = %v, want terminated from the first: the describes' NotFound was taken for gone", states)
	}
	mu.Unlock()
	if !slices.ContainsFunc(rep.Deleted, func(r providers.Resource) bool { return r.ID == h.ID }) {
		t.Errorf("report %+v does not name instance %s", rep.Deleted, h.ID)
	}
	listings, lastTerminate, secondListing := 0, -1, -1
	for i, c := range srv.Calls() {
		switch {
		case c.Op == "TerminateInstances":
			lastTerminate = i
		case c.Op == "DescribeInstances" && c.Params["InstanceId.1"] == "" && c.Params["Filter.1.Name"] != "":
			if listings++; listings == 2 {
				secondListing = i
			}
		}
	}
	if n := count(srv.Ops(), "TerminateInstances"); n != 4 {
		t.Errorf("TerminateInstances calls = %d, want 4: the batch, two NotFound single ones, the one that took", n)
	}
	if secondListing >= 0 && lastTerminate > secondListing {
		t.Errorf("the instance was terminated only by a later sweep (call %d after the second listing, call %d): "+
			"want each unknown id retried until EC2 knows it within the sweep", lastTerminate, secondListing)
	}
	assertNothingLeft(t, srv, p, id)
}
