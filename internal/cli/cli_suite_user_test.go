package cli_test

import (
	"os"
	"path/filepath"
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
