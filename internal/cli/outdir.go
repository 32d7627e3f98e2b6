package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/tinylabscom/mvm-verify/internal/config"
)

// checkOut refuses an --out that another user could write into. --out holds
// the kept host's private key and host.json, whose host cleanups `down`
// runs over SSH and whose state paths it trusts; a directory another user
// owns, or may write, lets them plant a file or symlink that our key is
// written into (and read out of), or swap host.json for their own. Owned
// by this user and writable by no one else, nothing in it can be planted
// or swapped, so this one check covers every file written there
// (summary.md, result.json, logs/, host/); host/ is checked too, as it
// may be left from a time --out was open.
//
// A path that does not exist yet passes: callers create it (as this user)
// and check again, so that a directory another user makes in between is
// refused too. The error names --out, the value, and the form expected.
// trusted are other owners to accept (see outTrust).
func checkOut(out string, trusted ...int) error {
	for _, c := range []struct {
		dir        string
		followLink bool
	}{{out, true}, {hostDir(out), false}} {
		if why := ownDir(c.dir, c.followLink, trusted); why != nil {
			return &config.InputError{Input: "out", Value: out, Expected: "a directory owned by this user (uid " +
				strconv.Itoa(os.Geteuid()) + ") that no other user can write, or a path that does not exist yet (" + why.Error() + ")"}
		}
	}
	return nil
}

// ownDir says why dir is not a directory of this user's alone; nil when
// it is, or does not exist. A symlink is followed only when allowed and
// the link is this user's own: another's could be pointed elsewhere after
// the check.
func ownDir(dir string, followLink bool, trusted []int) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// Nothing there to trust, and none can be made below a file:
		// creating it says what is wrong.
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if !followLink {
			return fmt.Errorf("%s is a symlink", dir)
		}
		if err := ownedByUs(dir, fi, trusted); err != nil {
			return err
		}
		if fi, err = os.Stat(dir); err != nil {
			return err
		}
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is a %s", dir, fileKind(fi.Mode()))
	}
	return ownedByUs(dir, fi, trusted)
}

// ownedByUs says why fi, at path, is not this user's alone: another owns
// it (other than a trusted owner), others may write it, or a group other
// than this user's own may. A group-writable directory of the user's own
// primary group is accepted: with Debian's user private groups (umask 002)
// that group is the user alone, and refusing it would refuse every
// directory such a user makes.
func ownedByUs(path string, fi fs.FileInfo, trusted []int) error {
	owner, group := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner, group = int(st.Uid), int(st.Gid)
	}
	if owner != os.Geteuid() && !slices.Contains(trusted, owner) {
		return fmt.Errorf("%s is owned by uid %d", path, owner)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o002 != 0 || (perm&0o020 != 0 && group != os.Getegid()) {
		return fmt.Errorf("%s is mode %04o, writable by others or by group %d", path, perm, group)
	}
	return nil
}

// outTrust is the owner besides this user whose --out is accepted: in
// Actions, the owner of the workspace. The action's container runs as
// root in a workspace the runner's user (uid 1001 on GitHub's runners)
// owns, and a directory that user made, in a job of its own, is as much
// the job's as the workspace is.
func (a *app) outTrust() []int {
	ws := a.env.Getenv("GITHUB_WORKSPACE")
	if !a.inGHA || ws == "" {
		return nil
	}
	fi, err := os.Stat(ws)
	if err != nil {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return []int{int(st.Uid)}
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "file"
}

// mkOut creates --out (as checkOut wants it, this user's) and checks it
// again once it exists: another user may have made it since the first
// check.
func mkOut(out string, trusted ...int) error {
	if err := checkOut(out, trusted...); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return &config.InputError{Input: "out", Value: out, Expected: "a directory that can be created", Err: errors.Unwrap(err)}
	}
	return checkOut(out, trusted...)
}

// readStateFile reads host.json of a leg's state in out, refusing one this
// user does not alone control (see checkOut): its host cleanups run over
// SSH, and the paths in it are trusted.
func readStateFile(out string, trusted ...int) ([]byte, error) {
	if err := checkOut(out, trusted...); err != nil {
		return nil, err
	}
	path := filepath.Join(hostDir(out), upStateFile)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	why := ownedByUs(path, fi, trusted)
	if !fi.Mode().IsRegular() {
		why = fmt.Errorf("%s is a %s", path, fileKind(fi.Mode()))
	}
	if why != nil {
		return nil, &config.InputError{Input: "out", Value: out,
			Expected: "a leg's state file owned by this user (uid " + strconv.Itoa(os.Geteuid()) + ") that no other user can write (" + why.Error() + ")"}
	}
	return os.ReadFile(path)
}
