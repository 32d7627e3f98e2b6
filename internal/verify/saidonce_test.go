package verify

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// What the progress says to people (a note line) is not said again as an
// info log record: the CLI shows info records only with debugging on, but
// a record that repeats a note adds nothing even then, and the note is
// what a user without debugging reads.
func TestNoSudoNoteIsNotRepeatedAsALogRecord(t *testing.T) {
	plan := sshLeg(t, false, Step{Name: "noop", Run: "true", Column: matrix.LiveCycle})
	plan.User = sshLoginUser
	plan.Lane = "no-kvm" // the login user is not in the kvm group
	var out, logs bytes.Buffer
	plan.Out = &out
	plan.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s\n%s", res.Outcome, res.FirstFailure, out.String())
	}
	if n := strings.Count(out.String(), "has no passwordless sudo"); n != 1 {
		t.Errorf("the progress says %d times that there is no passwordless sudo, want once:\n%s", n, out.String())
	}
	if strings.Contains(logs.String(), "sudo") {
		t.Errorf("an info record repeats the note:\n%s", logs.String())
	}
}

// A failed package install names apt's reason, from apt's own output: the
// exit status, 100 for any of apt's errors, says nothing of which. The
// output here is real apt-get's, for packages no archive has (a simulated
// install: nothing is locked, fetched or installed).
func TestPackagesFailureNamesAptsError(t *testing.T) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Fatal("apt-get not found: install Debian's apt")
	}
	const missing, secret = "nonexistent-pkg-xyz", "s3cret-in-the-name"
	cmd := exec.Command("apt-get", "install", "-s", "-q", missing, "other-"+secret)
	output, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 100 {
		t.Fatalf("apt-get install of unknown packages: %v, want exit status 100\n%s", err, output)
	}
	got := packagesFailure(remote.ExecResult{ExitCode: 100, Output: output}, []string{secret}).Error()
	want := "installing the suite's packages exited 100: E: Unable to locate package " + missing + "; E: Unable to locate package other-"
	if !strings.HasPrefix(got, want) {
		t.Errorf("error %q, want it to start %q", got, want)
	}
	if strings.Contains(got, secret) {
		t.Errorf("error %q shows the secret from the host's output", got)
	}
	if strings.Contains(got, "Reading package lists") {
		t.Errorf("error %q carries apt's other output, want only its E: lines", got)
	}

	// Output without an E: line (apt killed, another command failing)
	// leaves the exit status alone; progress redrawn with \r before an E:
	// line does not hide it; more E: lines than fit keep the last ones.
	for _, tc := range []struct{ output, want string }{
		{"Reading package lists...\n", "installing the suite's packages exited 100"},
		{"0% [Working]\rE: Failed to fetch http://deb.example/x  404\n",
			"installing the suite's packages exited 100: E: Failed to fetch http://deb.example/x 404"},
		{"E: one\nE: two\nE: three\nE: four\n", "installing the suite's packages exited 100: E: two; E: three; E: four"},
	} {
		if got := packagesFailure(remote.ExecResult{ExitCode: 100, Output: []byte(tc.output)}, nil).Error(); got != tc.want {
			t.Errorf("output %q: error %q, want %q", tc.output, got, tc.want)
		}
	}
}
