package aws_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// TestGroupInUseTriedInUseTriesPerSweep: a group EC2 keeps refusing with
// DependencyViolation is tried exactly ownIDTries (inUseTries) times within
// one sweep, a poll apart, and then left to the next sweep, which deletes
// it once EC2 lets go. Here EC2 refuses exactly that many calls, so one
// call more in the first sweep would delete it there.
func TestGroupInUseTriedInUseTriesPerSweep(t *testing.T) {
	srv, p, id, _ := createdRun(t)
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Times: ownIDTries, Status: http.StatusBadRequest, Code: "DependencyViolation",
		Message: "resource sg has a dependent object"})
	before := len(srv.Ops())
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	// Each sweep lists the run's groups once (one page: there is one
	// group), so the listings split the calls into sweeps.
	var perSweep []int
	for _, op := range srv.Ops()[before:] {
		switch op {
		case "DescribeSecurityGroups":
			perSweep = append(perSweep, 0)
		case "DeleteSecurityGroup":
			if len(perSweep) == 0 {
				t.Fatalf("DeleteSecurityGroup before any group listing: %v", srv.Ops()[before:])
			}
			perSweep[len(perSweep)-1]++
		}
	}
	if len(perSweep) < 2 || perSweep[0] != ownIDTries || perSweep[1] != 1 || slices.ContainsFunc(perSweep[2:], func(n int) bool { return n != 0 }) {
		t.Fatalf("DeleteSecurityGroup calls per sweep = %v, want %d (all in use), then 1 (deleted), then none", perSweep, ownIDTries)
	}
	assertNothingLeft(t, srv, p, id)
}
