package aws_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// TestLegsWithTheSameKeyStayApart runs two legs of one matrix job at once:
// same run, same GITHUB_JOB, same key (the key input says legs with the same
// key share a row), differing only in their random leg id. Each leg's
// teardown and leak check must touch only its own resources, while the
// other is still mid-suite.
func TestLegsWithTheSameKeyStayApart(t *testing.T) {
	cases := map[string]struct {
		typeB string
		diskB int
	}{
		// Another type: without the leg both launches would share tags and name.
		"another type": {typeB: "m8i.large"},
		// Same type, another disk: the same ClientToken would be an
		// IdempotentParameterMismatch.
		"same type, another disk": {typeB: "c8i.large", diskB: 60},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			a, b := identity("aws"), identity("aws")
			a.Leg, b.Leg = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
			if a.Name() == b.Name() {
				t.Errorf("two legs share the name %s", a.Name())
			}
			pa := newProviderWith(t, srv, []providers.Candidate{{Region: "us-east-1", Type: "c8i.large"}})
			pb := newProviderWith(t, srv, []providers.Candidate{{Region: "us-east-1", Type: tc.typeB}})

			reqA, reqB := request(a), request(b)
			reqA.Candidate = providers.Candidate{Region: "us-east-1", Type: "c8i.large"}
			reqB.Candidate = providers.Candidate{Region: "us-east-1", Type: tc.typeB}
			reqB.DiskGB = tc.diskB
			var wg sync.WaitGroup
			var errA, errB error
			wg.Add(2)
			go func() { defer wg.Done(); _, errA = pa.Create(context.Background(), reqA, nil) }()
			go func() { defer wg.Done(); _, errB = pb.Create(context.Background(), reqB, nil) }()
			wg.Wait()
			if errA != nil || errB != nil {
				t.Fatalf("create: leg A: %v; leg B: %v", errA, errB)
			}
			if i, g, v := srv.Live(); i != 2 || g != 2 || v != 2 {
				t.Fatalf("setup: want 2 instances, groups and volumes, got %d/%d/%d", i, g, v)
			}
			// Each leg's root volume has the size its request asked for
			// (none: the default 50 GB).
			wantB := 50
			if tc.diskB > 0 {
				wantB = tc.diskB
			}
			for _, v := range srv.Volumes() {
				want := map[string]int{a.Leg: 50, b.Leg: wantB}[v.Tags[providers.TagLeg]]
				if v.SizeGB != want {
					t.Errorf("volume %s of leg %s is %d GB, want %d", v.ID, v.Tags[providers.TagLeg], v.SizeGB, want)
				}
			}

			// Leg A ends first; leg B is still mid-suite.
			if _, err := pa.Destroy(context.Background(), a); err != nil {
				t.Fatalf("leg A destroy: %v", err)
			}
			if leaked, err := providers.LeakCheck(context.Background(), pa, a); err != nil || len(leaked) != 0 {
				t.Errorf("leg A's leak check: %+v, %v (leg B's resources are not A's leak)", leaked, err)
			}
			assertLegIntact(t, srv, b, tc.typeB)

			// Leg B's own leak check, before its teardown, finds exactly its own.
			leaked, err := providers.LeakCheck(context.Background(), pb, b)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, r := range leaked {
				kinds = append(kinds, r.Kind)
			}
			slices.Sort(kinds)
			if strings.Join(kinds, ",") != "instance,network-interface,security-group,volume" {
				t.Errorf("leg B's listing before its teardown = %+v, want its instance, network interface, group and volume", leaked)
			}
			for _, r := range leaked {
				if r.Tags[providers.TagLeg] != b.Leg {
					t.Errorf("leg B listed %s %s of leg %q", r.Kind, r.ID, r.Tags[providers.TagLeg])
				}
			}
			if _, err := pb.Destroy(context.Background(), b); err != nil {
				t.Fatalf("leg B destroy: %v", err)
			}
			assertNothingLeft(t, srv, pb, b)
		})
	}
}

// TestLegsOfDifferentJobsWithTheSameKey: two jobs of one run with the same
// key (and legs) are apart too, and the post step of one, a fresh adapter
// with only the saved identity, leaves the other alone.
func TestLegsOfDifferentJobsWithTheSameKey(t *testing.T) {
	srv := newFake(t, idleBooter)
	a, b := identity("aws"), identity("aws")
	a.Job, b.Job = "verify-a", "verify-b"
	a.Leg, b.Leg = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
	p := newProvider(t, srv, nil)
	for _, id := range []providers.Identity{a, b} {
		if _, err := p.Create(context.Background(), request(id), nil); err != nil {
			t.Fatal(err)
		}
	}
	post := newProvider(t, srv, nil)
	if _, err := post.Destroy(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	assertLegIntact(t, srv, b, "c8i.large")
	if _, err := post.Destroy(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, post, b)
}

// assertLegIntact checks that everything leg id created still exists in
// the fake and that the fake holds nothing of any other leg.
func assertLegIntact(t *testing.T, srv *fake.Server, id providers.Identity, typ string) {
	t.Helper()
	var live []fake.Instance
	for _, in := range srv.Instances() {
		if in.State == "terminated" || in.State == "shutting-down" {
			continue
		}
		live = append(live, in)
	}
	if len(live) != 1 || !id.Matches(live[0].Tags) || live[0].Type != typ || live[0].State != "running" {
		t.Errorf("instances left = %+v, want leg %s's running %s only", live, id.Leg, typ)
	}
	if g := srv.Groups(); len(g) != 1 || !id.Matches(g[0].Tags) {
		t.Errorf("groups left = %+v, want leg %s's only", g, id.Leg)
	}
	if v := srv.Volumes(); len(v) != 1 || !id.Matches(v[0].Tags) || v[0].State != "in-use" {
		t.Errorf("volumes left = %+v, want leg %s's attached volume only", v, id.Leg)
	}
}

// TestDestroyDeletesALeftoverNetworkInterface: an interface that outlives
// its instance holds the security group, so Destroy deletes it before the
// group, and nothing is left.
func TestDestroyDeletesALeftoverNetworkInterface(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.KeepInterfaces()
	p := newProvider(t, srv, nil)
	id := identity("aws")
	if _, err := p.Create(context.Background(), request(id), nil); err != nil {
		t.Fatal(err)
	}
	rep, err := p.Destroy(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Interfaces(); len(n) != 0 {
		t.Errorf("interfaces left = %+v", n)
	}
	if g := srv.Groups(); len(g) != 0 {
		t.Errorf("groups left = %+v", g)
	}
	if !slices.ContainsFunc(rep.Deleted, func(r providers.Resource) bool { return r.Kind == "network-interface" }) {
		t.Errorf("report %+v does not name the interface", rep.Deleted)
	}
	if leaked, err := providers.LeakCheck(context.Background(), p, id); err != nil || len(leaked) != 0 {
		t.Errorf("leak check = %+v, %v", leaked, err)
	}
}

// TestLeakCheckNamesANetworkInterface: an interface whose delete did not
// take is named by the leak check; the group it holds, which EC2 then
// refuses to delete, by Destroy's error.
func TestLeakCheckNamesANetworkInterface(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.KeepInterfaces()
	srv.Inject(fakecloud.Fault{Op: "DeleteNetworkInterface", Pretend: true})
	p := newProvider(t, srv, nil)
	id := identity("aws")
	if _, err := p.Create(context.Background(), request(id), nil); err != nil {
		t.Fatal(err)
	}
	_, err := p.Destroy(context.Background(), id)
	if gs := srv.Groups(); len(gs) != 1 || err == nil || !strings.Contains(err.Error(), "still in use after 12 sweeps, not deleted: security-group "+gs[0].ID) {
		t.Fatalf("destroy = %v with groups %+v: want an error naming the group the interface holds", err, gs)
	}
	enis := srv.Interfaces()
	if len(enis) != 1 || enis[0].Status != "available" {
		t.Fatalf("setup: interfaces = %+v, want the one the launch left", enis)
	}
	leaked, err := providers.LeakCheck(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(leaked, func(r providers.Resource) bool { return r.Kind == "network-interface" && r.ID == enis[0].ID }) {
		t.Errorf("leak check = %+v, want network-interface %s", leaked, enis[0].ID)
	}
}

// TestLeakCheckOfAYoungRunUnderLag: main is cut off while RunInstances is
// answered, nothing is torn down, and every new resource is missing from
// EC2's first two listings. The leak check of the young run still names
// them all: its first empty listing is not taken as clean.
func TestLeakCheckOfAYoungRunUnderLag(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.SetConsistencyLag(2)
	p := newProvider(t, srv, nil)
	id := identity("aws")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cutOffAtLaunch(srv, 2, cancel)
	if _, err := p.Create(ctx, request(id), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("create = %v, want cancelled", err)
	}
	waitForInstance(t, srv)
	left := srv.Tagged(id.Tags())
	leaked, err := providers.LeakCheck(context.Background(), newProvider(t, srv, nil), id)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, r := range leaked {
		got = append(got, r.Kind+" "+r.ID)
	}
	for _, r := range left {
		want = append(want, r.Kind+" "+r.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != 4 || !slices.Equal(got, want) {
		t.Errorf("leak check = %v, want everything the launch left: %v", got, want)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}
