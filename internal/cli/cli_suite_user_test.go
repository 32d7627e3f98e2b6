package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// cliSuiteUser is the suite user of the legs whose tests are not about
// root: a non-root user the run creates (the local provider) or the test
// host has (ssh), with Debian's default startup files, removed afterwards.
// Not root, whose login shell on a machine running these tests may read a
// .bashrc that takes seconds (a version manager's init), once for every
// SSH command and twice more for every step run through sudo -iu: that
// measures the machine, not the run. A name no other test uses, as user
// names are machine-wide.
const cliSuiteUser = "mvmclb"

// freshCLISuiteUser returns cliSuiteUser after removing what a killed
// earlier run left of it, so the run itself creates it; what this test's
// runs leave of it is removed after the test.
func freshCLISuiteUser(t *testing.T) string {
	t.Helper()
	freshRunCreatedUser(t, cliSuiteUser)
	return cliSuiteUser
}

// ownSuiteUser is freshCLISuiteUser for a test that runs in parallel with
// others (t.Parallel): name, a non-root user no other test uses, instead of
// cliSuiteUser, which the sequential tests share and remove between them.
// The tests marked parallel are the long ones, mostly waiting (a teardown
// budget spent, GitHub's settle waits, an SSH timeout): overlapped, they
// take minutes off the package's run.
func ownSuiteUser(t *testing.T, name string) string {
	t.Helper()
	freshRunCreatedUser(t, name)
	return name
}

// sshSudoUserHost boots a real sshd test host that accepts a fresh client
// key for cliSuiteUser, a user with passwordless sudo and Debian's default
// startup files, as on a cloud image (ubuntu, admin), and returns it with
// the key's PEM file. For the ssh legs not about a root login: the suite's
// user is then the login user (see cliSuiteUser for why not root).
func sshSudoUserHost(t *testing.T) (*testhost.Host, string, []byte) {
	t.Helper()
	testhost.RequireRoot(t)
	login := freshCLISuiteUser(t)
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	h := testhost.Start(t, testhost.Options{Users: []testhost.User{{Name: login, AuthorizedKeys: []string{authorized}, Sudo: true}}})
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return h, keyFile, keyPEM
}

// nonRootSuiteYAML is a suite whose legs run as cliSuiteUser: body is what follows
// the user line ("steps: ..."). No account of that name is left from an
// earlier run before the test, nor after it, nor a local run's sudoers
// drop-in for it (a run killed before its teardown leaves one).
func nonRootSuiteYAML(t *testing.T, body string) string {
	t.Helper()
	freshCLISuiteUser(t)
	t.Cleanup(func() {
		dropIns, _ := filepath.Glob("/etc/sudoers.d/mvm-verify-*")
		for _, path := range dropIns {
			if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), cliSuiteUser+" ") {
				os.Remove(path)
			}
		}
	})
	return "user: " + cliSuiteUser + "\n" + strings.TrimLeft(body, "\n")
}

// nonRootSuite writes nonRootSuiteYAML's suite and returns its path.
func nonRootSuite(t *testing.T, body string) string {
	t.Helper()
	return writeSuite(t, nonRootSuiteYAML(t, body))
}

// stickyTempDir is a TMPDIR for a run whose suite user is cliSuiteUser: open
// to all and sticky, as /tmp is, so the run's sshd keeps its files there
// (not in /tmp, as it would under root's private t.TempDir) and a test
// still finds the sshd, and what is left of it, by this directory's name.
func stickyTempDir(t *testing.T) string {
	t.Helper()
	dir := openTempDir(t, "mvmcli-tmp-")
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return dir
}
