package cli_test

import (
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// outAttacker is a throwaway user standing for another user of the
// machine, who owns what it plants in a shared directory such as /tmp.
// Removed after the test.
func outAttacker(t *testing.T) (uid, gid int) {
	t.Helper()
	return throwawayUser(t, "mvr-outattack")
}

// throwawayUser creates the user name with a group of its own and no home
// (one left by an earlier run killed mid-test is replaced), removed after
// the test.
func throwawayUser(t *testing.T, name string) (uid, gid int) {
	t.Helper()
	exec.Command("userdel", "-f", name).Run() // left by an earlier run killed mid-test
	if out, err := exec.Command("useradd", "--no-create-home", "--user-group", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", "-f", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// plant makes path (a directory when dir) owned by uid:gid with perm, as
// another user would have made it.
func plant(t *testing.T, path string, dir bool, perm os.FileMode, uid, gid int) {
	t.Helper()
	var err error
	if dir {
		err = os.Mkdir(path, perm)
	} else {
		err = os.WriteFile(path, nil, perm)
	}
	if err == nil {
		err = os.Chmod(path, perm) // past the umask
	}
	if err == nil {
		err = os.Lchown(path, uid, gid)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func owner(t *testing.T, fi os.FileInfo) int {
	t.Helper()
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// listTree is every path under dir with its mode and owner, to tell that
// a refused run wrote nothing there.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil {
			b.WriteString(path + " " + fi.Mode().String() + " " + strconv.Itoa(owner(t, fi)) + "\n")
		}
		return nil
	})
	return b.String()
}

// An --out another user made, or may write, would let them read the kept
// host's private key from it, or plant the file it is written through:
// up refuses it as bad input, naming out, before anything is created, and
// writes nothing there.
func TestUpRefusesAnOutAnotherUserControls(t *testing.T) {
	testhost.RequireRoot(t)
	uid, gid := outAttacker(t)
	suite := writeSuite(t, "user: root\nsteps:\n  - name: noop\n    run: \"true\"\n")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, out string)
		want  string
	}{
		{"out owned by another user", func(t *testing.T, out string) {
			plant(t, out, true, 0o777, uid, gid)
			plant(t, filepath.Join(out, "host"), true, 0o777, uid, gid)
			plant(t, filepath.Join(out, "host", "id_ed25519"), false, 0o666, uid, gid)
		}, "is owned by uid " + strconv.Itoa(uid)},
		{"host dir owned by another user", func(t *testing.T, out string) {
			plant(t, out, true, 0o755, 0, 0)
			plant(t, filepath.Join(out, "host"), true, 0o777, uid, gid)
		}, "is owned by uid " + strconv.Itoa(uid)},
		{"out writable by others", func(t *testing.T, out string) {
			plant(t, out, true, 0o777, 0, 0)
		}, "is mode 0777"},
		{"out a symlink another user owns", func(t *testing.T, out string) {
			target := filepath.Join(filepath.Dir(out), "target")
			plant(t, target, true, 0o700, 0, 0)
			if err := os.Symlink(target, out); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(out, uid, gid); err != nil {
				t.Fatal(err)
			}
		}, "is owned by uid " + strconv.Itoa(uid)},
		{"host dir a symlink", func(t *testing.T, out string) {
			plant(t, out, true, 0o700, 0, 0)
			if err := os.Symlink(t.TempDir(), filepath.Join(out, "host")); err != nil {
				t.Fatal(err)
			}
		}, "host is a symlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			out := filepath.Join(tmp, "out")
			tc.setup(t, out)
			before := listTree(t, tmp)
			state := filepath.Join(tmp, "state")
			r := runBin(t, cmdEnv(t), "up", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", state)
			if r.code == 0 {
				runBin(t, cmdEnv(t), "down", "--out", out)
			}
			msg := r.stdout + r.stderr
			if r.code != 2 || !strings.Contains(msg, `input "out": got "`+out+`"`) || !strings.Contains(msg, tc.want) ||
				!strings.Contains(msg, "that no other user can write") {
				t.Fatalf("up exit %d, want 2 naming out, its value, %q and the form expected\nstdout:\n%s\nstderr:\n%s", r.code, tc.want, r.stdout, r.stderr)
			}
			if after := listTree(t, tmp); after != before {
				t.Errorf("the refused up changed what is in its --out:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// Files found in a host dir of ours (left, say, from before --out was
// ours alone) are never written through: up writes each of its files new
// and renames it into place, so a symlink's target is untouched and a
// file another user owns, readable by all, is replaced by our own 0600
// one. And down loads no state another user owns or may write: its host
// cleanups would run over SSH, as root, and its paths are trusted.
func TestUpWritesNoPlantedFileAndDownTrustsNoForeignState(t *testing.T) {
	testhost.RequireRoot(t)
	uid, gid := outAttacker(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	hostDir := filepath.Join(out, "host")
	plant(t, out, true, 0o700, 0, 0)
	plant(t, hostDir, true, 0o700, 0, 0)
	victim := filepath.Join(tmp, "victim")
	plant(t, victim, false, 0o666, uid, gid)
	if err := os.Symlink(victim, filepath.Join(hostDir, "id_ed25519")); err != nil {
		t.Fatal(err)
	}
	plant(t, filepath.Join(hostDir, "known_hosts"), false, 0o666, uid, gid)

	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: noop\n    run: \"true\"\n")
	env := cmdEnv(t)
	hostJSON := filepath.Join(hostDir, "host.json")
	t.Cleanup(func() {
		if _, err := os.Stat(hostJSON); err == nil {
			os.Chown(out, 0, 0)
			os.Chmod(out, 0o700)
			os.Chown(hostDir, 0, 0)
			os.Chown(hostJSON, 0, 0)
			os.Chmod(hostJSON, 0o600)
			runBin(t, env, "down", "--out", out)
		}
	})
	up := runBin(t, env, "up", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", filepath.Join(tmp, "state"))
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	if data, err := os.ReadFile(victim); err != nil || len(data) != 0 {
		t.Errorf("up wrote through the planted symlink host/id_ed25519 into %s (%v): %d bytes", victim, err, len(data))
	}
	for _, name := range []string{"id_ed25519", "known_hosts", "host.json"} {
		fi, err := os.Lstat(filepath.Join(hostDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 || owner(t, fi) != 0 {
			t.Errorf("host/%s after up: %v owned by uid %d, want a file of ours (uid 0), 0600", name, fi.Mode(), owner(t, fi))
		}
	}

	// Each of these makes the state one another user could have written;
	// down refuses each, naming out, and leaves the state as it was.
	for _, tc := range []struct {
		name        string
		spoil, undo func() error
		want        string
	}{
		{"host.json owned by another user",
			func() error { return os.Chown(hostJSON, uid, gid) },
			func() error { return os.Chown(hostJSON, 0, 0) },
			"is owned by uid " + strconv.Itoa(uid)},
		{"host.json writable by others",
			func() error { return os.Chmod(hostJSON, 0o666) },
			func() error { return os.Chmod(hostJSON, 0o600) },
			"is mode 0666"},
		{"host dir owned by another user",
			func() error { return os.Chown(hostDir, uid, gid) },
			func() error { return os.Chown(hostDir, 0, 0) },
			"is owned by uid " + strconv.Itoa(uid)},
		{"out writable by others",
			func() error { return os.Chmod(out, 0o777) },
			func() error { return os.Chmod(out, 0o700) },
			"is mode 0777"},
	} {
		if err := tc.spoil(); err != nil {
			t.Fatal(err)
		}
		down := runBin(t, env, "down", "--out", out)
		msg := down.stdout + down.stderr
		if down.code != 2 || !strings.Contains(msg, `input "out": got "`+out+`"`) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: down exit %d, want 2 naming out and %q\nstdout:\n%s\nstderr:\n%s", tc.name, down.code, tc.want, down.stdout, down.stderr)
		}
		if _, err := os.Stat(hostJSON); err != nil {
			t.Fatalf("%s: the refused down removed the state: %v", tc.name, err)
		}
		if err := tc.undo(); err != nil {
			t.Fatal(err)
		}
	}

	down := runBin(t, env, "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down of our own state: exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if _, err := os.Stat(hostJSON); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("down left its state (stat: %v)", err)
	}
}
