package cli_test

import (
	"os"
	"os/exec"
	"os/user"
	"testing"
)

// runCreatedUser names what a run leaves on a host for a suite user it
// creates, and makes sure none of it is there before the test or after it:
// the accounts are machine-wide, so a failed earlier run may have left one.
type runCreatedUser struct {
	Name, Sudoers, Mark string
}

func freshRunCreatedUser(t *testing.T, name string) runCreatedUser {
	t.Helper()
	u := runCreatedUser{
		Name:    name,
		Sudoers: "/etc/sudoers.d/90-mvm-verify-" + name,
		Mark:    "/var/lib/mvm-verify/created-user-" + name,
	}
	remove := func() {
		exec.Command("userdel", "-r", "-f", name).Run()
		os.Remove(u.Sudoers)
		os.Remove(u.Mark)
	}
	remove()
	t.Cleanup(remove)
	if _, err := user.Lookup(name); err == nil {
		t.Fatalf("user %s exists before the test and could not be removed", name)
	}
	return u
}
