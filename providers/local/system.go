package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/proc"
)

// system changes accounts and devices through the standard tools, as
// cloud-init does.
type system struct{}

func (system) userExists(name string) bool {
	_, err := user.Lookup(name)
	return err == nil
}

func (system) groupExists(name string) bool {
	_, err := user.LookupGroup(name)
	return err == nil
}

func (system) inGroup(name, group string) (bool, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return false, fmt.Errorf("look up user %s: %w", name, err)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return false, fmt.Errorf("look up group %s: %w", group, err)
	}
	if u.Gid == g.Gid {
		return true, nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return false, fmt.Errorf("groups of %s: %w", name, err)
	}
	return slices.Contains(ids, g.Gid), nil
}

// groupInUse reports whether anyone belongs to group: a member, or an
// account whose primary group it is. Another leg or a test host may have
// joined a group this leg created since.
func (system) groupInUse(group string) (bool, error) {
	g, err := user.LookupGroup(group)
	if err != nil {
		return false, fmt.Errorf("look up group %s: %w", group, err)
	}
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		return false, fmt.Errorf("read /etc/group: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) == 4 && f[0] == group && f[3] != "" {
			return true, nil
		}
	}
	pw, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return false, fmt.Errorf("read /etc/passwd: %w", err)
	}
	for _, line := range strings.Split(string(pw), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[3] == g.Gid {
			return true, nil
		}
	}
	return false, nil
}

// passwordField returns the user's /etc/shadow password field.
func (system) passwordField(name string) (string, error) {
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return "", fmt.Errorf("read /etc/shadow: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) >= 2 && f[0] == name {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("user %s has no /etc/shadow entry", name)
}

func (system) run(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// kvmPerms returns /dev/kvm's owner and mode, ok false when it is absent.
func (system) kvmPerms() (uid, gid int, mode os.FileMode, ok bool, err error) {
	fi, err := os.Stat(devKVM)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("stat %s: %w", devKVM, err)
	}
	uid, gid = statOwner(fi)
	return uid, gid, fi.Mode().Perm(), true, nil
}

func (system) groupID(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("look up group %s: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}

func currentUser() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// killUserProcesses SIGKILLs every process running as the user. Destroy
// uses it only for an account it created, before deleting it, so nothing
// the suite left behind (daemons detached from the session) keeps running
// under a deleted uid.
func (system) killUserProcesses(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("look up user %s: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("user %s: uid %q is not a number: %w", name, u.Uid, err)
	}
	if _, err := proc.KillUID(uid); err != nil {
		return fmt.Errorf("kill the processes of user %s: %w", name, err)
	}
	return nil
}
