package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// TestPreflightImageLookupFailuresKeepTheirClass: only SSM's or EC2's
// refusal of the image value is the image input's fault (bad input). A
// lookup refused for the credentials' permissions is an auth failure, and
// a throttle or a 5xx that outlasts the SDK's retries is transient: none
// of them may read `input "image": got "…", expected … (EC2 refuses it …)`,
// which would send the user to fix an input that is fine. The default image is an SSM
// parameter, so both lookups run: GetParameter, then DescribeImages.
func TestPreflightImageLookupFailuresKeepTheirClass(t *testing.T) {
	for _, tt := range []struct {
		name   string
		op     string
		status int
		code   string
		class  providers.Class
	}{
		{"ssm access denied", "ssm:GetParameter", 400, "AccessDeniedException", providers.ClassAuth},
		{"ssm throttled", "ssm:GetParameter", 400, "ThrottlingException", providers.ClassTransient},
		{"ssm 5xx", "ssm:GetParameter", 500, "InternalServerError", providers.ClassTransient},
		{"ec2 unauthorized", "DescribeImages", 403, "UnauthorizedOperation", providers.ClassAuth},
		{"ec2 throttled", "DescribeImages", 503, "RequestLimitExceeded", providers.ClassTransient},
		{"ec2 5xx", "DescribeImages", 500, "InternalError", providers.ClassTransient},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			// Times 0: every call fails, so the fault outlasts the SDK's
			// retries (whose backoff newProvider makes zero).
			srv.Inject(fakecloud.Fault{Op: tt.op, Status: tt.status, Code: tt.code, Message: "injected " + tt.code})
			p := newProvider(t, srv, nil)
			err := p.Preflight(context.Background(), request(identity("aws")))
			if err == nil {
				t.Fatalf("preflight with %s failing passed", tt.op)
			}
			if got := providers.ClassOf(err); got != tt.class {
				t.Errorf("class = %v, want %v (err: %v)", got, tt.class, err)
			}
			if strings.Contains(err.Error(), `input "image"`) {
				t.Errorf("error %q blames the image input for %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.code) {
				t.Errorf("error %q does not name %s", err, tt.code)
			}
			if n := count(srv.Ops(), tt.op); n < 2 && tt.class == providers.ClassTransient {
				t.Errorf("%s called %d times: a transient failure is retried", tt.op, n)
			}
			if c := creating(srv); len(c) > 0 {
				t.Errorf("preflight made changing calls: %v", c)
			}
		})
	}
}
