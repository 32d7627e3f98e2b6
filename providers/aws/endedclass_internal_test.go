package aws

import (
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
)

// TestEndedClass pins how the state reason of an instance that ended before
// it ran is classed. A spot reclaim is capacity only for a spot launch: an
// on-demand instance that ends with a spot reason is something the run
// does not understand, so it stops rather than moving on to the next
// candidate.
func TestEndedClass(t *testing.T) {
	for _, c := range []struct {
		code      string
		spot      bool
		wantClass providers.Class
		wantCode  string
	}{
		{"Server.InsufficientInstanceCapacity", false, providers.ClassCapacity, "InsufficientInstanceCapacity"},
		{"Server.InsufficientInstanceCapacity", true, providers.ClassCapacity, "InsufficientInstanceCapacity"},
		{"Server.SpotInstanceTermination", true, providers.ClassCapacity, "Server.SpotInstanceTermination"},
		{"Server.SpotInstanceShutdown", true, providers.ClassCapacity, "Server.SpotInstanceShutdown"},
		{"Server.SpotInstanceTermination", false, providers.ClassUnknown, ""},
		{"Server.SpotInstanceShutdown", false, providers.ClassUnknown, ""},
		{"Server.InternalError", true, providers.ClassUnknown, ""},
		{"", false, providers.ClassUnknown, ""},
	} {
		class, code := endedClass(c.code, c.spot)
		if class != c.wantClass || code != c.wantCode {
			t.Errorf("endedClass(%q, spot=%v) = (%v, %q), want (%v, %q)", c.code, c.spot, class, code, c.wantClass, c.wantCode)
		}
	}
}
