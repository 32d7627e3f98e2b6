package verify

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	sshprovider "github.com/tinylabscom/mvm-verify/providers/ssh"
)

// Users of these tests only: real accounts on this machine.
const (
	sshLoginUser = "mvv-sshlogin"
	sshSuiteUser = "mvv-suite"
)

// userExists asks this machine's user database.
func userExists(name string) bool {
	return exec.Command("id", "-u", name).Run() == nil
}

// removeUser deletes a user a test left behind, so the next test starts
// without it.
func removeUser(t *testing.T, name string) {
	t.Helper()
	if !userExists(name) {
		return
	}
	exec.Command("pkill", "-KILL", "-u", name).Run()
	if out, err := exec.Command("userdel", "--remove", name).CombinedOutput(); err != nil && userExists(name) {
		t.Fatalf("remove leftover user %s: %v %s", name, err, out)
	}
	os.Remove(sudoersDropIn(name))
	os.Remove(createdUserMarker(name))
}

// sshLeg is a leg on the ssh provider (bring your own host) whose login
// user is not the suite's user, over a real test host.
func sshLeg(t *testing.T, loginSudo bool, steps ...Step) Plan {
	t.Helper()
	plan, _ := sshLegHost(t, loginSudo, steps...)
	return plan
}

// sshLegHost is sshLeg with its test host.
func sshLegHost(t *testing.T, loginSudo bool, steps ...Step) (Plan, *testhost.Host) {
	t.Helper()
	testhost.RequireRoot(t)
	removeUser(t, sshSuiteUser)
	// Registered before the host starts, so it runs after the host stops.
	t.Cleanup(func() {
		removeUser(t, sshSuiteUser)
		removeUser(t, sshLoginUser)
	})
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	h := testhost.Start(t, testhost.Options{Users: []testhost.User{{Name: sshLoginUser, AuthorizedKeys: []string{authorized}, Sudo: loginSudo}}})
	in := map[string]string{
		"ssh-host": h.Addr(), "ssh-port": strconv.Itoa(h.Port()), "ssh-user": sshLoginUser,
		"ssh-private-key": string(keyPEM), "ssh-known-host": h.HostKey(),
	}
	entry := sshprovider.Entry()
	p, err := entry.New(providers.Options{Input: func(name string) string { return in[name] }})
	if err != nil {
		t.Fatal(err)
	}
	plan := testPlan(p, steps...)
	plan.User = sshSuiteUser
	plan.Lane = hostLane()
	plan.Info = entry.Info
	plan.ProbeBinary = testProbeBinary(t)
	return plan, h
}

// On a host we did not boot, the suite's user is created as cloud-init
// would create it (passwordless sudo, the kvm group), the probe and the
// steps run as that user, and the teardown removes the user again.
func TestSSHProviderCreatesAndRemovesTheSuiteUser(t *testing.T) {
	plan := sshLeg(t, true, Step{
		Name:   "as the suite user",
		Run:    `test "$(id -un)" = ` + sshSuiteUser + ` && sudo -n true && id -nG | grep -qw kvm && echo suite user ok`,
		Column: matrix.LiveCycle,
	})
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	if !strings.Contains(res.Steps[0].Output, "suite user ok") {
		t.Errorf("step output %q", res.Steps[0].Output)
	}
	// With KVM here, the created user (in the kvm group) must get to use
	// it; without, the step's group check above is what can be checked.
	if res.Probe == nil || res.Probe.Lane != hostLane() {
		t.Errorf("the probe as the created user saw lane %v, want this machine's, %s", res.Probe, hostLane())
	}
	if userExists(sshSuiteUser) {
		t.Errorf("user %s is still there after the teardown", sshSuiteUser)
	}
	for _, f := range []string{sudoersDropIn(sshSuiteUser), createdUserMarker(sshSuiteUser), "/home/" + sshSuiteUser} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s is still there after the teardown", f)
		}
	}
}

// A login user that cannot become root cannot create the suite's user:
// the error names both users and what to change.
func TestSSHProviderSuiteUserWithoutSudo(t *testing.T) {
	plan := sshLeg(t, false, Step{Name: "never", Run: "true"})
	res := Run(context.Background(), plan)
	pr := res.Phase(PhaseReady)
	if pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("ready %+v, want failed", pr)
	}
	for _, want := range []string{`"` + sshSuiteUser + `"`, `"` + sshLoginUser + `" (ssh-user)`, "passwordless sudo"} {
		if !strings.Contains(pr.Error, want) {
			t.Errorf("ready error %q lacks %q", pr.Error, want)
		}
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed (nothing was created)", td)
	}
	if userExists(sshSuiteUser) {
		t.Errorf("user %s exists", sshSuiteUser)
	}
}

// uploadDirs makes a directory any user may write in (not sticky, so a
// login user may replace root's file there, as on a host where it can),
// holding a file of root's (testhost.ExistingUpload), and the source of an
// upload.
func uploadDirs(t *testing.T) (base, existing, src string) {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "mvv-upload-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	existing = testhost.ExistingUpload(t, base)
	src = filepath.Join(t.TempDir(), "payload.sh")
	if err := os.WriteFile(src, []byte("uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return base, existing, src
}

// On a host the run did not create, the suite's uploads are undone at
// teardown: a file in directories the upload made goes with them, and a
// file that was there before is put back as it was.
func TestSSHProviderUndoesUploads(t *testing.T) {
	plan := sshLeg(t, true)
	base, existing, src := uploadDirs(t)
	fresh := filepath.Join(base, "new", "sub", "y.sh")
	plan.Uploads = []Upload{{Src: src, Dst: fresh, Mode: 0o755}, {Src: src, Dst: existing}}
	plan.Steps = []Step{{
		Name:   "sees the uploads",
		Run:    "cat " + remote.Quote(fresh) + " " + remote.Quote(existing),
		Column: matrix.LiveCycle,
	}}
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	if got := res.Steps[0].Output; strings.Count(got, "uploaded") != 2 {
		t.Errorf("step output %q, want both uploads' content", got)
	}
	testhost.CheckUploadsUndone(t, base, existing)
}

// Steps run as the suite's user through `sudo -n -iu USER bash -lc`
// (DESIGN §5), also when the suite's user is the one the provider logs in
// as: sudo sets SUDO_USER, and the command's marker and the script's
// shell syntax come through sudo -i's re-quoting intact.
func TestStepsRunThroughSudoAsTheLoginUser(t *testing.T) {
	plan := sshLeg(t, true, Step{
		Name:   "who",
		Run:    `for w in "user=$(id -un)" "sudo_user=${SUDO_USER:-none}" "marked=${MVM_VERIFY_CMD:+yes}"; do printf '%s ' "$w"; done; echo`,
		Column: matrix.LiveCycle,
	})
	plan.User = sshLoginUser
	plan.Lane = "no-kvm" // the login user is not in the kvm group
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	want := "user=" + sshLoginUser + " sudo_user=" + sshLoginUser + " marked=yes \n"
	if got := res.Steps[0].Output; got != want {
		t.Errorf("step output %q, want %q: the step did not run through sudo -iu as the login user", got, want)
	}
	if len(res.Notices) != 0 {
		t.Errorf("notices %q on a host with passwordless sudo", res.Notices)
	}
}

// A host whose login user is the suite's user and has no passwordless
// sudo still runs the suite, in that user's own login shell, and the
// result says steps ran without sudo.
func TestStepsWithoutSudoRunInTheLoginShell(t *testing.T) {
	plan := sshLeg(t, false, Step{
		Name:   "who",
		Run:    `echo "user=$(id -un) sudo_user=${SUDO_USER:-none} marked=${MVM_VERIFY_CMD:+yes}"`,
		Column: matrix.LiveCycle,
	})
	plan.User = sshLoginUser
	plan.Lane = "no-kvm" // the login user is not in the kvm group
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	if want := "user=" + sshLoginUser + " sudo_user=none marked=yes\n"; res.Steps[0].Output != want {
		t.Errorf("step output %q, want %q", res.Steps[0].Output, want)
	}
	if len(res.Notices) != 1 || !strings.Contains(res.Notices[0], sshLoginUser+" has no passwordless sudo") || !strings.Contains(res.Notices[0], "bash -lc") {
		t.Errorf("notices %q, want one saying %s has no passwordless sudo and steps run through bash -lc", res.Notices, sshLoginUser)
	}
}

// The cycle's connection sends a keepalive every 5 s and gives up after 3
// unanswered ones (DESIGN §5: NAT idle timeouts drop quiet connections
// during a long step). Checked on the client the cycle really dialed, so
// a cycle that dials with the keepalive off or another limit fails here.
func TestCycleDialsWithKeepalive(t *testing.T) {
	plan := sshLeg(t, true, Step{Name: "noop", Run: "true", Column: matrix.LiveCycle})
	plan.User = sshLoginUser
	plan.Lane = "no-kvm"
	var dialed []*remote.Client
	plan.Dial = func(ctx context.Context, target remote.Target, o remote.DialOptions) (*remote.Client, error) {
		c, err := remote.Dial(ctx, target, o)
		if err == nil {
			dialed = append(dialed, c)
		}
		return c, err
	}
	res := Run(context.Background(), plan)
	if res.Outcome != Verified {
		t.Fatalf("outcome %s: %s", res.Outcome, res.FirstFailure)
	}
	if len(dialed) != 1 {
		t.Fatalf("the cycle dialed %d connections through Plan.Dial, want 1", len(dialed))
	}
	if every, missed := dialed[0].Keepalive(); every != 5*time.Second || missed != 3 {
		t.Errorf("the cycle's connection keeps alive every %v, closed after %d missed; want every 5s, after 3", every, missed)
	}
}
