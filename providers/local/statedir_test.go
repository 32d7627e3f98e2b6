package local_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/local"
)

// throwawayUser creates an account of this test's own, standing for
// another local user, and removes it at the end.
func throwawayUser(t *testing.T) string {
	t.Helper()
	name := "mvr-atk-" + randHex(3)
	if out, err := exec.Command("useradd", "-M", "-s", "/bin/sh", "-p", "*", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s (Debian's passwd package): %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", "-f", name).Run() })
	return name
}

func newWithDir(dir string) (providers.Provider, error) {
	return local.New(providers.Options{Input: func(n string) string {
		if n == "local-state-dir" {
			return dir
		}
		return ""
	}})
}

// A state directory another user made, or can write, or a symlink, is
// refused when the provider is made, naming the input, the value and the
// form expected: root's Destroy would otherwise act on whatever that user
// put there.
func TestStateDirNotOurs(t *testing.T) {
	testhost.RequireRoot(t)
	attacker := throwawayUser(t)
	base := t.TempDir()

	theirs := filepath.Join(base, "theirs")
	if err := os.Mkdir(theirs, 0o777); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", attacker, theirs).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	if err := os.Chmod(theirs, 0o777); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	under := filepath.Join(theirs, "state") // theirs to swap away

	for _, tc := range []struct{ dir, why string }{
		{theirs, "owned by uid"},
		{open, "writable by group or others"},
		{link, "is a symlink"},
		{under, "writable by group or others without the sticky bit"},
	} {
		_, err := newWithDir(tc.dir)
		want := `input "local-state-dir": got "` + tc.dir + `", expected an absolute path to a directory owned by you, not writable by group or others and not a symlink`
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: err %v, want %q and %q", tc.dir, err, want, tc.why)
		}
	}
	if entries, _ := os.ReadDir(theirs); len(entries) != 0 {
		t.Errorf("New wrote into the refused directory: %v", entries)
	}
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Errorf("New wrote through the symlink: %v", entries)
	}

	// A directory that turns bad after New is refused by Destroy too, before
	// it reads anything in it.
	later := filepath.Join(base, "later")
	p, err := newWithDir(later)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(later, 0o777); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", attacker, later).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	l := newLeg(t, "root", "kvm")
	if _, err := p.Destroy(context.Background(), l.req.Identity); err == nil || !strings.Contains(err.Error(), "owned by uid") {
		t.Errorf("Destroy with the state dir now another user's: err %v, want it refused", err)
	}
}

// Without local-state-dir and RUNNER_TEMP, root's state goes to a
// directory of root's own, never the shared temp dir, and New makes nothing.
func TestStateDirDefault(t *testing.T) {
	testhost.RequireRoot(t)
	p, err := local.New(providers.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	got := p.(providers.Resolver).ResolvedInputs()["local-state-dir"]
	if got != local.RootStateDir {
		t.Errorf("root's default state dir %q, want %q", got, local.RootStateDir)
	}
	if strings.HasPrefix(got, os.TempDir()) || strings.HasPrefix(got, "/tmp") {
		t.Errorf("root's default state dir %q is in the shared temp dir", got)
	}
}

// writeState writes a leg's state file by hand, as someone who could write
// the state directory would.
func writeState(t *testing.T, dir string, id providers.Identity, user string, changes ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"identity": id, "tags": id.Tags(), "user": user, "changes": changes})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, id.Name()+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A state file whose changes Create would never have recorded is refused
// by Destroy, naming the file, and nothing it names is touched: not a
// directory its work dir points at, not a file as its sudoers drop-in, not
// another account's password, not a cgroup outside the provider's.
func TestDestroyRefusesTamperedState(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	victim := throwawayUser(t)
	decoyDir := filepath.Join(t.TempDir(), "precious")
	if err := os.MkdirAll(filepath.Join(decoyDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	decoyFile := filepath.Join(t.TempDir(), "sudoers-lookalike")
	if err := os.WriteFile(decoyFile, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	mount, err := local.Cgroup2Mount()
	if err != nil {
		t.Fatalf("no cgroup2 mounted: the test needs one to plant a decoy cgroup: %v", err)
	}
	decoyCgroup := filepath.Join(mount, "mvr-decoy-"+randHex(4))
	if err := os.Mkdir(decoyCgroup, 0o755); err != nil {
		t.Fatalf("create decoy cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(decoyCgroup) })

	for _, tc := range []struct {
		name   string
		user   string
		change map[string]any
		why    string
		intact func() bool
	}{
		{"workdir", "root", map[string]any{"kind": "workdir", "path": decoyDir}, "path",
			func() bool { _, err := os.Stat(filepath.Join(decoyDir, "sub")); return err == nil }},
		{"sudoers", "root", map[string]any{"kind": "sudoers", "path": decoyFile}, "path",
			func() bool { _, err := os.Stat(decoyFile); return err == nil }},
		{"old-password", victim, map[string]any{"kind": "user-unlock", "name": victim, "old_password": "$6$salt$forgedhash"}, "old password",
			func() bool { return shadowField(t, victim) == "*" }},
		{"cgroup", "root", map[string]any{"kind": "processes", "marker": strings.Repeat("ab", 12), "cgroup": decoyCgroup}, "cgroup",
			func() bool { _, err := os.Stat(decoyCgroup); return err == nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := newProvider(t, dir)
			id := newLeg(t, tc.user, "kvm").req.Identity
			path := writeState(t, dir, id, tc.user, tc.change)
			_, err := p.Destroy(ctx, id)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "refused") ||
				!strings.Contains(err.Error(), tc.why) {
				t.Errorf("Destroy of a tampered state: err %v, want it refused naming %s and its %s", err, path, tc.why)
			}
			if !tc.intact() {
				t.Errorf("Destroy of a tampered state touched what it named")
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the refused state file is gone: %v", err)
			}
		})
	}
}

// shadowField is the password field of name in /etc/shadow.
func shadowField(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) > 1 && f[0] == name {
			return f[1]
		}
	}
	return ""
}

// A log path planted as a symlink in the state directory (by whoever could
// write it before it was ours) is not followed by the leg's sshd.
func TestSSHDLogSymlinkNotFollowed(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	l := newLeg(t, "root", "kvm")
	target := filepath.Join(t.TempDir(), "profile.sh")
	if err := os.WriteFile(target, []byte("# untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, l.req.Identity.Name()+".sshd.log")); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, dir)
	var j providers.MemJournal
	forceClean(t, dir, l, &j)
	if _, err := p.Create(ctx, l.req, &j); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(ctx, l.req.Identity) })
	if b, _ := os.ReadFile(target); string(b) != "# untouched\n" {
		t.Errorf("sshd wrote its log through the planted symlink: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, l.req.Identity.Name()+".sshd.log")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("sshd log is not a plain file of its own: %v %v", fi, err)
	}
}

// The cycle's work dir, named after the run in the shared /tmp, is made by
// Create itself for the login user: one another user planted first (a
// symlink here) is refused, and what it points at is left alone.
func TestWorkDirPlantedRefused(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	l := newLeg(t, "root", "kvm")
	workDir := "/tmp/mvm-verify-" + l.req.Identity.Name()
	target := t.TempDir()
	if err := os.Symlink(target, workDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(workDir) })
	p := newProvider(t, dir)
	var j providers.MemJournal
	forceClean(t, dir, l, &j)
	h, err := p.Create(ctx, l.req, &j)
	if err == nil {
		p.Destroy(ctx, l.req.Identity)
		t.Fatalf("Create with its work dir planted as a symlink succeeded (work dir %s); want it refused", h.WorkDir)
	}
	if !strings.Contains(err.Error(), workDir) || !strings.Contains(err.Error(), "planted") {
		t.Errorf("err %v, want it to name %s as planted", err, workDir)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("the symlink's target is gone: %v", err)
	}

	// Unplanted, the work dir is a fresh directory of the login user's
	// that others cannot write.
	os.Remove(workDir)
	l2 := newLeg(t, "root", "kvm")
	var j2 providers.MemJournal
	forceClean(t, dir, l2, &j2)
	h, err = p.Create(ctx, l2.req, &j2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(ctx, l2.req.Identity) })
	fi, err := os.Lstat(h.WorkDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("work dir %s after Create: %v %v, want a directory 0755", h.WorkDir, fi, err)
	}
}
