package verify

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	sshprovider "github.com/tinylabscom/mvm-verify/providers/ssh"
)

// The login (and suite) user of this file's leg: a name no other test
// file uses, so it may run beside them.
const gzLoginUser = "mvmgz1"

// The cycle uploads the probe binary compressed to a host with gzip (every
// test host: it is this machine): the debug record of the upload says so.
func TestProbeUploadIsCompressed(t *testing.T) {
	testhost.RequireRoot(t)
	removeUser(t, gzLoginUser)
	t.Cleanup(func() { removeUser(t, gzLoginUser) })
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	h := testhost.Start(t, testhost.Options{Users: []testhost.User{{Name: gzLoginUser, AuthorizedKeys: []string{authorized}, Sudo: true}}})
	in := map[string]string{
		"ssh-host": h.Addr(), "ssh-port": strconv.Itoa(h.Port()), "ssh-user": gzLoginUser,
		"ssh-private-key": string(keyPEM), "ssh-known-host": h.HostKey(),
	}
	entry := sshprovider.Entry()
	p, err := entry.New(providers.Options{Input: func(name string) string { return in[name] }})
	if err != nil {
		t.Fatal(err)
	}
	plan := testPlan(p, Step{Name: "noop", Run: "true", Column: matrix.LiveCycle})
	plan.User = gzLoginUser
	plan.Lane = "no-kvm" // the login user is not in the kvm group
	plan.Info = entry.Info
	plan.ProbeBinary = testProbeBinary(t)
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
