package verify

import (
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// testUser is the account the tests' hosts let in and the suites run as: a
// fresh user with passwordless sudo, as a cloud image's default user, that
// the test host creates when it boots (Debian's default startup files) and
// removes when it stops; hosts up at once share it (testhost keeps it while
// any uses it). Not root: a test machine's root may have a .bashrc that
// costs seconds for every SSH command (pyenv init on CI), and these tests
// are not about root.
const testUser = "mvmvfy"

// testHostUser is testUser as a test host's account, letting in the holder
// of the key authorized. The kvm group gives it /dev/kvm where this machine
// has KVM, as cloud-init gives the suite's user, so a probe run as it sees
// this machine's lane (hostLane).
func testHostUser(authorized string) testhost.User {
	return testhost.User{Name: testUser, AuthorizedKeys: []string{authorized}, Sudo: true, Groups: []string{"kvm"}}
}

// hostDir is a directory on the test host (this machine) that testUser's
// commands may write to, as t.TempDir (root's, 0700) is not: the provider
// tests' shared directory, sticky and world-writable like /tmp, removed
// when the test ends.
func hostDir(t *testing.T) string {
	t.Helper()
	return providertest.SharedDir(t)
}
