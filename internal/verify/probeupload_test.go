package verify

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// The cycle uploads the probe binary compressed to a host with gzip (every
// test host: it is this machine): the debug record of the upload says so.
func TestProbeUploadIsCompressed(t *testing.T) {
	plan := sshLeg(t, true, Step{Name: "noop", Run: "true", Column: matrix.LiveCycle})
	plan.User = sshLoginUser
	plan.Lane = "no-kvm" // the login user is not in the kvm group
	var out, logs bytes.Buffer
	plan.Out = &out
	plan.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s\n%s", res.Outcome, res.FirstFailure, out.String())
	}
	var record string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `msg="probe binary uploaded"`) {
			record = line
		}
	}
	if !strings.Contains(record, " compressed=true") {
		t.Errorf("the probe upload's record %q, want it uploaded compressed (compressed=true); the log:\n%s", record, logs.String())
	}
}
