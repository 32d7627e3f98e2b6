package cli_test

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// kvmLaneSuiteUser is the suite user of TestLocalKVMLaneRefusedWithoutKVM:
// not root (see cliSuiteUser), and a name no other test uses, as user
// names are machine-wide.
const kvmLaneSuiteUser = "mvmlkv"

// TestLocalKVMLaneRefusedWithoutKVM: for the local provider the host is
// this machine, so an explicit kvm lane on a machine whose KVM is unusable
// is refused at preflight — exit 2, naming the input lane, the value kvm,
// why KVM is unusable and what to give instead — and nothing is
// provisioned: no sshd, no suite user, no state directory. So at the
// command line (run and up) and in the action (INPUT_LANE=kvm).
//
// Every run is in a mount namespace whose /dev/kvm is the test's stand-in
// (standInKVM: present and open to all, but no KVM API behind it), so KVM
// is unusable there whether or not this machine has it, and the test holds
// on both kinds of machine. Lane auto in the same namespace runs the no-kvm
// lane and verifies (TestRunLocalAutoLaneWithoutKVM), so the refusal is the
// explicit lane's alone.
func TestLocalKVMLaneRefusedWithoutKVM(t *testing.T) {
	testhost.RequireRoot(t)
	freshRunCreatedUser(t, kvmLaneSuiteUser)
	suite := writeSuite(t, "user: "+kvmLaneSuiteUser+"\nsteps:\n  - name: a\n    run: \"true\"\n")
	prefix, standInEnv := standInKVM(t, 0, 0, 0o666)
	inStandIn := launch{prefix: prefix}
	// The stand-in opens but answers no KVM ioctl: that is the reason.
	const (
		refusal = `input "lane": got "kvm", expected no-kvm or auto on this machine, or run on a host with usable KVM`
		reason  = "this machine's KVM is unusable: KVM_GET_API_VERSION failed"
	)
	nothingMade := func(t *testing.T, out, stateDir string) {
		t.Helper()
		if p := phaseStatus(t, filepath.Join(out, "result.json"), "preflight"); p != "fail" {
			t.Errorf("preflight phase %q, want fail", p)
		}
		if p := phaseStatus(t, filepath.Join(out, "result.json"), "provision"); p != "" {
			t.Errorf("provision phase %q after the refusal, want none", p)
		}
		if _, err := user.Lookup(kvmLaneSuiteUser); err == nil {
			t.Errorf("suite user %s created", kvmLaneSuiteUser)
		}
		if _, err := os.Stat(stateDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("local-state-dir %s made (stat: %v)", stateDir, err)
		}
		if left := processesMentioning(t, stateDir); len(left) > 0 {
			t.Errorf("processes of the refused leg: %v", left)
		}
	}

	for _, cmd := range []string{"run", "up"} {
		t.Run(cmd, func(t *testing.T) {
			dir := t.TempDir()
			out, stateDir := filepath.Join(dir, "out"), filepath.Join(dir, "state")
			r := runBinHow(t, inStandIn, cmdEnv(t, standInEnv...), cmd, "--provider", "local", "--lane", "kvm",
				"--suite", suite, "--out", out, "--local-state-dir", stateDir)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2 (could not start)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{refusal, reason} {
				if !strings.Contains(r.stdout+r.stderr, want) {
					t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", want, r.stdout, r.stderr)
				}
			}
			if strings.Contains(r.stdout+r.stderr, "KVM check") {
				t.Errorf("the leg reached the probe's KVM check:\n%s", r.stdout)
			}
			nothingMade(t, out, stateDir)
			if _, err := os.Stat(filepath.Join(out, "host")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s kept a host record for a leg refused at preflight (stat: %v)", cmd, err)
			}
		})
	}

	t.Run("action", func(t *testing.T) {
		dir := t.TempDir()
		out, stateDir := filepath.Join(dir, "out"), filepath.Join(dir, "state")
		runner := providertest.NewRunner(t, "")
		env := append(append(runner.Env(), standInEnv...), "GITHUB_ACTIONS=true", "INPUT_PROVIDER=local", "INPUT_LANE=kvm",
			"INPUT_SUITE="+suite, "INPUT_OUT="+out, "INPUT_LOCAL-STATE-DIR="+stateDir)
		r := runBinHow(t, inStandIn, cmdEnv(t, env...))
		if r.code != 2 {
			t.Fatalf("exit %d, want 2 (could not start)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if got := runner.Outputs(t)["status"]; got != "error" {
			t.Errorf("status output %q, want error", got)
		}
		for _, want := range []string{refusal, reason} {
			if !strings.Contains(r.stdout+r.stderr, want) {
				t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", want, r.stdout, r.stderr)
			}
		}
		nothingMade(t, out, stateDir)
	})
}
