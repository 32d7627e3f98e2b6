package aws_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
)

// TestListingsFollowNextToken: EC2 pages its describes and filters each
// page only after reading it, so a run's resources may sit on any page,
// behind pages holding none of them. With pages of two items, and two
// other runs' resources created first, the run's instances, volumes and
// interfaces span pages after an empty first one and its group is on the
// second page: the leak check names every one of them, and Destroy
// deletes them all and nothing of the other runs.
func TestListingsFollowNextToken(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.LimitPages(2)
	p := newProvider(t, srv, nil)
	id, others := identity("aws"), []providers.Identity{identity("aws-other-1"), identity("aws-other-2")}
	create := func(ident providers.Identity, typ string) {
		t.Helper()
		req := request(ident)
		req.Candidate = providers.Candidate{Type: typ}
		if _, err := p.Create(context.Background(), req, nil); err != nil {
			t.Fatalf("create %s for %s: %v", typ, ident.Key, err)
		}
	}
	for _, o := range others {
		create(o, "c8i.large")
	}
	for _, typ := range []string{"c8i.large", "m8i.large", "c8i.xlarge"} {
		create(id, typ)
	}
	ours := srv.Tagged(id.Tags())
	if len(ours) != 10 { // 3 instances, volumes and interfaces, 1 group
		t.Fatalf("setup: the run holds %d resources, want 10: %v", len(ours), ours)
	}
	before := len(srv.Calls())

	leaked, err := providers.LeakCheck(context.Background(), newProvider(t, srv, nil), id)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, r := range leaked {
		got = append(got, r.Kind+" "+r.ID)
	}
	for _, r := range ours {
		want = append(want, r.Kind+" "+r.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("leak check named %v, want all of the run's %v", got, want)
	}
	paged := map[string]int{}
	for _, c := range srv.Calls()[before:] {
		if c.Params["NextToken"] != "" {
			paged[c.Op]++
		}
	}
	for _, op := range []string{"DescribeInstances", "DescribeSecurityGroups", "DescribeVolumes", "DescribeNetworkInterfaces"} {
		if paged[op] == 0 {
			t.Errorf("the leak check never asked for a second page of %s: %v", op, paged)
		}
	}

	if _, err := newProvider(t, srv, nil).Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if left := srv.Tagged(id.Tags()); len(left) > 0 {
		t.Errorf("Destroy left %v", left)
	}
	if leaked, err := providers.LeakCheck(context.Background(), p, id); err != nil || len(leaked) > 0 {
		t.Errorf("leak check after Destroy = %v, %v", leaked, err)
	}
	for _, o := range others {
		if left := srv.Tagged(o.Tags()); len(left) != 4 {
			t.Errorf("run %s holds %v after another run's Destroy, want its 4 resources", o.Key, left)
		}
	}
}
