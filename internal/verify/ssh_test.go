package verify

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
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
	requireRootHosts(t)
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
	plan.Lane = "auto"
	plan.Info = entry.Info
	plan.ProbeBinary = testProbeBinary(t)
	return plan
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
	if res.Probe == nil || res.Probe.Lane != "kvm" {
		t.Errorf("the probe as the created user did not see KVM: %+v", res.Probe)
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
