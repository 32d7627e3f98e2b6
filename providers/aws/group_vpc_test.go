package aws_test

import (
	"context"
	"slices"
	"testing"
)

// TestGroupOfTheNameInAnotherVPCIsNotUsed: the run's security group is
// looked up by name within the subnet's VPC only. A group of the same name
// in another VPC (here the default one) is not the run's: using it would
// open port 22 on someone else's group and fail the launch, as EC2 refuses
// a group and subnet of different networks. Create makes a group of its
// own in the subnet's VPC and leaves the other one alone.
func TestGroupOfTheNameInAnotherVPCIsNotUsed(t *testing.T) {
	srv := newFake(t, idleBooter)
	sn := srv.AddSubnet("us-east-1b")
	id := identity("aws")
	other := srv.AddGroup(sn.Region, "", id.Name())
	if other.VpcID == sn.VpcID {
		t.Fatalf("the seeded group is in the subnet's VPC %s, want another", sn.VpcID)
	}
	p := newProvider(t, srv, map[string]string{"subnet-id": sn.ID})
	h, err := p.Create(context.Background(), request(id), nil)
	if err != nil {
		t.Fatalf("create in subnet %s with a group named %s in %s: %v", sn.ID, id.Name(), other.VpcID, err)
	}
	in, _ := srv.Instance(h.ID)
	if slices.Contains(in.Groups, other.ID) || len(in.Groups) != 1 {
		t.Fatalf("instance groups = %v, want one new group, not %s of %s", in.Groups, other.ID, other.VpcID)
	}
	for _, g := range srv.Groups() {
		switch g.ID {
		case other.ID:
			if len(g.Ingress) != 0 {
				t.Errorf("the other VPC's group %s got ingress rules %+v, want none", g.ID, g.Ingress)
			}
		case in.Groups[0]:
			if g.VpcID != sn.VpcID || g.Name != id.Name() {
				t.Errorf("instance group %s is %q in %s, want %q in the subnet's VPC %s", g.ID, g.Name, g.VpcID, id.Name(), sn.VpcID)
			}
		default:
			t.Errorf("unexpected group %+v", g)
		}
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if left := srv.Tagged(id.Tags()); len(left) > 0 {
		t.Errorf("fake still holds resources tagged with the run: %v", left)
	}
	if g := srv.Groups(); len(g) != 1 || g[0].ID != other.ID {
		t.Errorf("groups after destroy = %+v, want only the other VPC's %s, untouched", g, other.ID)
	}
}
