package aws_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// TestBinarySIGTERMDuringGroupCalls: SIGTERM while the run's security
// group is being made — inside the fake's CreateSecurityGroup (the group
// is made, the run may never hear its id) and inside its
// AuthorizeSecurityGroupIngress — and the run, within the runner's grace
// and before any post step, leaves nothing tagged: the group it made is
// gone, deleted by a DeleteSecurityGroup that found it holding the run's
// tags.
func TestBinarySIGTERMDuringGroupCalls(t *testing.T) {
	for _, op := range []string{"CreateSecurityGroup", "AuthorizeSecurityGroupIngress"} {
		t.Run(op, func(t *testing.T) {
			var (
				mu sync.Mutex
				// deleted: the groups a DeleteSecurityGroup named while the
				// fake held them with the run's marker tag.
				deleted []string
			)
			observe := func(f providertest.Fake) {
				srv := f.(awsFake).srv
				f.Kit().Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", When: func(c fakecloud.Call) bool {
					for _, g := range srv.Groups() {
						if g.ID == c.Params["GroupId"] && g.Tags[providers.TagMarker] == "1" {
							mu.Lock()
							deleted = append(deleted, g.ID)
							mu.Unlock()
						}
					}
					return false
				}})
			}
			f := providertest.SIGTERMDuringCall(t, awsCloud(), "during "+op, func(c fakecloud.Call) bool { return c.Op == op }, observe)
			srv := f.(awsFake).srv
			if n := count(srv.Ops(), op); n != 1 {
				t.Errorf("%s calls = %d, want the 1 the signal came in", op, n)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(deleted) == 0 {
				t.Fatalf("no DeleteSecurityGroup named a group of the run's while the fake held it (calls %v)", srv.Ops())
			}
			for _, g := range srv.Groups() {
				if slices.Contains(deleted, g.ID) {
					t.Errorf("group %s is still there after its delete", g.ID)
				}
			}
			if groups := srv.Groups(); len(groups) != 0 {
				t.Errorf("groups left in the fake: %+v", groups)
			}
		})
	}
}
