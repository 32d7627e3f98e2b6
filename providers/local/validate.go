package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/tinylabscom/mvm-verify/providers"
	"golang.org/x/sys/unix"
)

// A state file tells Destroy, which runs as root, what to delete, kill and
// restore. Its directory is this user's alone (makeOwnDir), but should a
// file be forged anyway, every change is checked against what Create itself
// records before anything is done: the paths it names, the accounts, the
// cgroup, the password marker. One change out of form refuses the whole
// file.

var (
	// sshdDirRE is the base name of sshd's private directory, as
	// sshd.DirName and sshd.Start name it.
	sshdDirRE = regexp.MustCompile(`^mvm-sshd-[0-9]+-[0-9]+-[0-9a-f]+$`)
	markerRE  = regexp.MustCompile(`^[0-9a-f]{24}$`)
	cgroupRE  = regexp.MustCompile(`^[0-9a-f]{8}$`)
)

// lockedMarkers are the password fields an unlock replaces, and so the
// only ones Destroy puts back: never a hash, which would set a password.
var lockedMarkers = []string{"!", "!!", "!*"}

// validateState checks a state read from path, the file of leg name.
func validateState(path, name string, st *state) error {
	bad := func(i int, c change, why string) error {
		return fmt.Errorf("local state %s: refused, nothing done: change %d (%s): %s", path, i, c.Kind, why)
	}
	if !providers.ValidUserName(name) {
		return fmt.Errorf("local state %s: refused, nothing done: leg name %q is not one this provider makes", path, name)
	}
	if got := st.Identity.Name(); got != name {
		return fmt.Errorf("local state %s: refused, nothing done: it belongs to leg %s, not %s", path, got, name)
	}
	if st.User != "" && !providers.ValidUserName(st.User) {
		return fmt.Errorf("local state %s: refused, nothing done: suite user %q is not a user name", path, st.User)
	}
	for i, c := range st.Changes {
		switch c.Kind {
		case kindWorkDir:
			if want := "/tmp/mvm-verify-" + name; c.Path != want {
				return bad(i, c, fmt.Sprintf("path %q, expected %q", c.Path, want))
			}
		case kindSudoers:
			if want := filepath.Join("/etc/sudoers.d", "mvm-verify-"+name); c.Path != want {
				return bad(i, c, fmt.Sprintf("path %q, expected %q", c.Path, want))
			}
		case kindSSHDFiles, kindSSHD:
			if c.Dir != "" && !validSSHDDir(c.Dir) {
				return bad(i, c, fmt.Sprintf("dir %q, expected an absolute path to an sshd directory mvm-sshd-<pid>-<start>-<hex>", c.Dir))
			}
			if want := filepath.Join(filepath.Dir(path), name+".sshd.log"); c.Path != "" && c.Path != want {
				return bad(i, c, fmt.Sprintf("log %q, expected %q", c.Path, want))
			}
			if c.Kind == kindSSHD && c.Pid <= 1 {
				return bad(i, c, fmt.Sprintf("pid %d", c.Pid))
			}
		case kindProcs:
			if c.Marker != "" && !markerRE.MatchString(c.Marker) {
				return bad(i, c, fmt.Sprintf("marker %q, expected 24 hex digits", c.Marker))
			}
			if c.Cgroup != "" && !validCgroup(c.Cgroup, name) {
				return bad(i, c, fmt.Sprintf("cgroup %q, expected %s-<8 hex digits> in %s under a cgroup2 mount", c.Cgroup, name, cgroupParent))
			}
		case kindUser, kindUnlock, kindGroupMember:
			// Create only sets up the suite user, and never root.
			if c.Name != st.User || c.Name == "root" || !providers.ValidUserName(c.Name) {
				return bad(i, c, fmt.Sprintf("user %q, expected the leg's suite user %q (not root)", c.Name, st.User))
			}
			if c.Kind == kindUnlock && !slices.Contains(lockedMarkers, c.OldPassword) {
				return bad(i, c, fmt.Sprintf("old password field is not one of %s", strings.Join(lockedMarkers, " ")))
			}
			if c.Kind == kindGroupMember && !slices.Contains(suiteGroups, c.Group) {
				return bad(i, c, fmt.Sprintf("group %q, expected one of %s", c.Group, strings.Join(suiteGroups, " ")))
			}
		case kindGroup:
			if !slices.Contains(suiteGroups, c.Group) {
				return bad(i, c, fmt.Sprintf("group %q, expected one of %s", c.Group, strings.Join(suiteGroups, " ")))
			}
		case kindDevKVM:
			if c.UID < 0 || c.GID < 0 || c.Mode&^0o777 != 0 {
				return bad(i, c, fmt.Sprintf("owner %d:%d mode %o, expected permission bits only", c.UID, c.GID, c.Mode))
			}
		default:
			return bad(i, c, "unknown kind")
		}
	}
	return nil
}

// validSSHDDir is named as sshd names its private directories. Where it
// is cannot be pinned down: sshdTempDir is TMPDIR's, and the post step or
// `down` may run with another; removeOwnDir checks it at removal.
func validSSHDDir(dir string) bool {
	return filepath.IsAbs(dir) && filepath.Clean(dir) == dir && sshdDirRE.MatchString(filepath.Base(dir))
}

// removeOwnDir removes dir only if it is a directory this user owns, as
// the sshd directory made with Mkdir is: not a symlink, nor something
// another user put at that name.
func removeOwnDir(dir string) (bool, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if uid, _ := statOwner(fi); !fi.IsDir() || fi.Mode()&os.ModeSymlink != 0 || uid != os.Geteuid() {
		return false, fmt.Errorf("%s is not a directory of this user's: left in place", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	return true, nil
}

// validCgroup is a cgroup as cgroupPath names it for leg: in cgroupParent
// at the top of a cgroup2 hierarchy.
func validCgroup(dir, leg string) bool {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || filepath.Base(filepath.Dir(dir)) != cgroupParent {
		return false
	}
	suffix, ok := strings.CutPrefix(filepath.Base(dir), leg+"-")
	if !ok || !cgroupRE.MatchString(suffix) {
		return false
	}
	var fs unix.Statfs_t
	mount := filepath.Dir(filepath.Dir(dir))
	return unix.Statfs(mount, &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC
}
