package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// TestTeardownOutlasts5xxBeyondTheSDK: EC2 answering 5xx to the terminate
// more times than the SDK's own retryer tries within one call. The
// adapter's sweeps, not only the SDK, ride it out: the teardown still ends
// with nothing left, rather than reporting a leak it could have deleted.
// A 5xx that never passes ends in an error naming it once the sweeps are
// spent, not in a teardown that goes on for ever.
func TestTeardownOutlasts5xxBeyondTheSDK(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failures int
		wantErr  bool
	}{
		{name: "passes after more than one call's retries", failures: 14},
		{name: "never passes", failures: 10000, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, p, id, _ := createdRun(t)
			srv.Inject(fakecloud.Fault{Op: "TerminateInstances", Times: tt.failures, Status: 500, Code: "InternalError", Message: "An internal error has occurred"})
			rep, err := p.Destroy(context.Background(), id)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "InternalError") {
					t.Fatalf("destroy = %v, want the 5xx named once the sweeps are spent", err)
				}
				return
			}
			if err != nil || rep.Deferred {
				t.Fatalf("destroy = %v (deferred %v, notes %q), want it done after the 5xx passed", err, rep.Deferred, rep.Notes)
			}
			if n := count(srv.Ops(), "TerminateInstances"); n <= tt.failures {
				t.Errorf("TerminateInstances calls = %d, want more than the %d that failed", n, tt.failures)
			}
			assertNothingLeft(t, srv, p, id)
		})
	}
}
