package cli_test

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
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

// failingUserdelPath is a PATH entry whose first directory holds a userdel
// that fails as when another tool holds the account files' lock, so a
// teardown that deletes a suite user fails the way it does on a busy host.
func failingUserdelPath(t *testing.T) string {
	t.Helper()
	stub := t.TempDir()
	script := "#!/bin/sh\necho 'userdel: cannot lock /etc/passwd; try again later.' >&2\nexit 10\n"
	if err := os.WriteFile(filepath.Join(stub, "userdel"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + stub + string(os.PathListSeparator) + os.Getenv("PATH")
}
