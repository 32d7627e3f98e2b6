package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Who --out may belong to, besides this user: a group-writable directory
// of the user's own primary group (Debian's user private groups, umask
// 002) is theirs alone and accepted; another group's is not. In Actions a
// directory owned by the workspace's owner (the runner's user, while the
// action's container runs as root) is the job's own; at a terminal the
// same owner is another user.
func TestOutOwnersAccepted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to chown test directories (CI runs as root)")
	}
	const other = 54321 // no such user is needed: chown takes any uid
	mkdir := func(t *testing.T, uid, gid int, mode os.FileMode) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "out")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	appIn := func(t *testing.T, actions bool, workspace string) *app {
		env := map[string]string{"GITHUB_WORKSPACE": workspace}
		if actions {
			env["GITHUB_ACTIONS"] = "true"
		}
		return newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }})
	}
	me, mine := os.Geteuid(), os.Getegid()

	for _, tc := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
		actions  bool
		wsOwner  int // owner of GITHUB_WORKSPACE
		refused  string
	}{
		{"own, private", me, mine, 0o700, false, me, ""},
		{"own, writable by own group", me, mine, 0o775, false, me, ""},
		{"own, writable by another group", me, other, 0o775, false, me, "writable by others or by group 54321"},
		{"own, writable by others", me, mine, 0o777, false, me, "writable by others"},
		{"another user's at a terminal", other, other, 0o755, false, other, "owned by uid 54321"},
		{"the workspace owner's in Actions", other, other, 0o755, true, other, ""},
		{"the workspace owner's in Actions, open to all", other, other, 0o777, true, other, "writable by others"},
		{"another user's in Actions, not the workspace owner", other, other, 0o755, true, me, "owned by uid 54321"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := mkdir(t, tc.uid, tc.gid, tc.mode)
			ws := mkdir(t, tc.wsOwner, tc.wsOwner, 0o755)
			err := checkOut(out, appIn(t, tc.actions, ws).outTrust()...)
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Errorf("got %v, want a refusal saying %q", err, tc.refused)
			}
		})
	}
}
