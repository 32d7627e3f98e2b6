package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tinylabscom/mvm-verify/providers"
)

// The state directory holds what Destroy, running as root, acts on: which
// accounts to delete, which paths to remove, which processes to kill. So it
// must be this user's alone. A directory another user made (in a shared
// /tmp, say, before this run) or can write could hand Destroy a forged
// state, or plant symlinks that turn this process's writes into writes
// anywhere on the machine.

// stateDirForm is the form local-state-dir must have, for errors.
const stateDirForm = "an absolute path to a directory owned by you, not writable by group or others and not a symlink " +
	"(or that can be created so)"

func stateDirError(dir string, err error) error {
	return &providers.InputError{Input: "local-state-dir", Value: dir, Expected: stateDirForm, Err: err}
}

// defaultStateDir is where the state goes when local-state-dir is not
// given: under RUNNER_TEMP, the runner's own directory, when set, so the
// main and the post step agree; else a directory of this user's own, never
// the world-writable temp dir.
func defaultStateDir(getenv func(string) string) (string, error) {
	if base := getenv("RUNNER_TEMP"); base != "" {
		dir := filepath.Join(base, "mvm-verify-local")
		// Per user: root's directory is root's alone, and would block
		// anyone else's run.
		if uid := os.Geteuid(); uid != 0 {
			dir += "-" + strconv.Itoa(uid)
		}
		return dir, nil
	}
	if os.Geteuid() == 0 {
		return RootStateDir, nil
	}
	if xdg := getenv("XDG_STATE_HOME"); filepath.IsAbs(xdg) {
		return filepath.Join(xdg, "mvm-verify", "local"), nil
	}
	home := getenv("HOME")
	if !filepath.IsAbs(home) {
		h, err := os.UserHomeDir()
		if err != nil || !filepath.IsAbs(h) {
			return "", &providers.InputError{Input: "local-state-dir", Expected: stateDirForm,
				Err: errors.New("not given, and no default: neither RUNNER_TEMP, XDG_STATE_HOME nor HOME is set to an absolute path")}
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "mvm-verify", "local"), nil
}

// RootStateDir is root's default state directory without RUNNER_TEMP:
// root's own, and kept across reboots like the accounts it describes.
const RootStateDir = "/var/lib/mvm-verify/local"

// checkOwnDir says whether fi, found by Lstat at path, is a directory that
// is this user's alone.
func checkOwnDir(path string, fi os.FileInfo) error {
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symlink", path)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	if uid, _ := statOwner(fi); uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d)", path, uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o)", path, fi.Mode().Perm())
	}
	return nil
}

// checkParents refuses a directory above dir that others could write
// without the sticky bit: they could rename dir away and put their own in
// its place. Symlinks above dir are followed, as the kernel does.
func checkParents(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				if d == filepath.Dir(d) {
					return nil
				}
				continue
			}
			return err
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
			return fmt.Errorf("%s, above it, is writable by group or others without the sticky bit (mode %04o)", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// checkStateDir says whether dir can hold the leg's state: an existing
// directory that is this user's alone, or a path it can create. It creates
// nothing lasting: only trying tells whether a directory can be made (root
// passes every permission check, yet cannot mkdir in /proc or on a
// read-only mount), so it makes and removes a scratch entry in the nearest
// existing ancestor.
func checkStateDir(dir string) error {
	if err := checkParents(dir); err != nil {
		return stateDirError(dir, err)
	}
	fi, err := os.Lstat(dir)
	if err == nil {
		if err := checkOwnDir(dir, fi); err != nil {
			return stateDirError(dir, err)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return stateDirError(dir, err)
	}
	at := filepath.Dir(dir)
	for {
		fi, err := os.Stat(at)
		if err == nil {
			if !fi.IsDir() {
				return stateDirError(dir, fmt.Errorf("%s is not a directory", at))
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return stateDirError(dir, err)
		}
		up := filepath.Dir(at)
		if up == at {
			return stateDirError(dir, err)
		}
		at = up
	}
	scratch, err := os.MkdirTemp(at, ".mvm-verify-check-")
	if err != nil {
		return stateDirError(dir, fmt.Errorf("cannot create directories under %s: %w", at, err))
	}
	if err := os.Remove(scratch); err != nil {
		return stateDirError(dir, err)
	}
	return nil
}

// makeOwnDir creates dir and the directories missing above it, each 0700
// and with Mkdir, which never follows a symlink in the last place, then
// checks that dir is this user's alone: one someone else made between the
// check and now is refused. created says whether dir itself was made here.
func makeOwnDir(dir string) (created bool, err error) {
	if err := checkParents(dir); err != nil {
		return false, err
	}
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, os.ErrNotExist) || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], 0o700)
		if err == nil && i == 0 {
			created = true
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			return false, err
		}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return false, err
	}
	if err := checkOwnDir(dir, fi); err != nil {
		return false, err
	}
	return created, nil
}
