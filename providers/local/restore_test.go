package local_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/local"
)

// account is what this machine says about a user outside the local
// provider's code: the things Create may change and Destroy must restore.
type account struct {
	groups   string // id -Gn, sorted
	password string // the shadow password field
	home     string // every entry under the home directory
	sudoers  string // the /etc/sudoers.d drop-ins naming the user
}

func accountOf(t *testing.T, name string) account {
	t.Helper()
	var a account
	out, err := exec.Command("id", "-Gn", name).Output()
	if err != nil {
		t.Fatalf("id -Gn %s: %v", name, err)
	}
	groups := strings.Fields(string(out))
	slices.Sort(groups)
	a.groups = strings.Join(groups, " ")
	out, err = exec.Command("getent", "shadow", name).Output()
	if err != nil {
		t.Fatalf("getent shadow %s: %v", name, err)
	}
	if f := strings.Split(strings.TrimSpace(string(out)), ":"); len(f) > 1 {
		a.password = f[1]
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	a.home = tree(t, u.HomeDir)
	drops, _ := filepath.Glob("/etc/sudoers.d/*")
	slices.Sort(drops)
	for _, d := range drops {
		if b, err := os.ReadFile(d); err == nil && strings.Contains(string(b), name) {
			a.sudoers += d + ":\n" + string(b)
		}
	}
	return a
}

// tree lists every entry under dir with its type, mode, owner and, for a
// file, a digest of its content.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(&b, "%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			content, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(content))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			b.WriteString(" -> " + target)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return b.String()
}

// TestPreexistingUserRestored: the suite user already exists here, locked
// ("!", as useradd leaves an account without a password), in no group but
// its own, with a key of its own in authorized_keys. Create sets it up as
// cloud-init would (kvm and sudo, unlocked for key logins, passwordless
// sudo), and Destroy gives it back exactly as it was instead of deleting it.
func TestPreexistingUserRestored(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	name := "mvr-pre" + randHex(3)
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/bash", "-p", "!", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		exec.Command("userdel", "-r", "-f", name).Run()
		// A drop-in Destroy failed to remove would outlive the user.
		drops, _ := filepath.Glob("/etc/sudoers.d/mvm-verify-*")
		for _, d := range drops {
			if b, err := os.ReadFile(d); err == nil && strings.Contains(string(b), name+" ") {
				os.Remove(d)
			}
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	_, ownKey := testhost.ClientKey(t)
	sshDir := filepath.Join(u.HomeDir, ".ssh")
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(sshDir, "authorized_keys")
	if err := os.WriteFile(keys, []byte(ownKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sshDir, keys} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	before := accountOf(t, name)
	if before.groups != name || before.password != "!" || before.sudoers != "" {
		t.Fatalf("the pre-existing user is %+v, want it locked in its own group only, without sudo", before)
	}

	dir := t.TempDir()
	p := newProvider(t, dir)
	// The no-kvm lane: setting the user up does not depend on the lane, and
	// this test leaves this machine's /dev/kvm alone (TestKVMPermsRestored
	// covers it).
	l := newLeg(t, name, "no-kvm")
	var j providers.MemJournal
	h, err := p.Create(ctx, l.req, &j)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { newProvider(t, dir).Destroy(context.Background(), l.req.Identity) })
	if slices.Contains(kinds(j.Records()), "user") {
		t.Errorf("journal %v: Create claims the pre-existing user as its own", kinds(j.Records()))
	}
	c := login(t, h, l)
	if out, ok := testhost.Exec(t, c, "id -un"); !ok || out != name {
		t.Errorf("id -un = %q (ok %v), want %s", out, ok, name)
	}
	groups, _ := testhost.Exec(t, c, "id -Gn")
	for _, g := range []string{"kvm", "sudo"} {
		if !slices.Contains(strings.Fields(groups), g) {
			t.Errorf("the session's groups %q lack %s", groups, g)
		}
	}
	c.Close()
	during := accountOf(t, name)
	if during.password == "!" {
		t.Errorf("password field still %q during the leg: sshd without PAM refuses a locked account", during.password)
	}
	if !strings.Contains(during.sudoers, "NOPASSWD") {
		t.Errorf("no passwordless sudo drop-in for %s during the leg: %q", name, during.sudoers)
	}

	// The post step: a fresh provider that knows only the identity.
	if _, err := newProvider(t, dir).Destroy(ctx, l.req.Identity); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Lookup(name); err != nil {
		t.Fatalf("Destroy removed the pre-existing user %s: %v", name, err)
	}
	after := accountOf(t, name)
	if after.groups != before.groups {
		t.Errorf("groups after Destroy %q, were %q", after.groups, before.groups)
	}
	if after.password != before.password {
		t.Errorf("password field after Destroy %q, was %q", after.password, before.password)
	}
	if after.home != before.home {
		t.Errorf("home after Destroy:\n%s\nwas:\n%s", after.home, before.home)
	}
	if after.sudoers != before.sudoers {
		t.Errorf("sudoers drop-ins naming %s after Destroy: %q", name, after.sudoers)
	}
}

// TestKVMPermsRestored: a /dev/kvm that is not root:kvm 0660 is made so for
// the kvm lane (as the cloud-config's runcmd does) and given back its owner,
// group and mode at Destroy. The test runs in a mount namespace whose
// /dev/kvm is its own node, owned nobody:nogroup with mode 0600 so that each
// of the three differs from what Create sets; the leg registry is the
// namespace's own too, so no leg of another test process can inherit the
// change and "restore" this machine's real /dev/kvm to the stand-in's mode.
func TestKVMPermsRestored(t *testing.T) {
	testhost.RequireRoot(t)
	const registry = `mkdir -p -m 0700 "$LEG_REGISTRY"
mount -t tmpfs -o mode=0700 leg-registry "$LEG_REGISTRY"
`
	if !testhost.InStandInKVMOwned(t, 65534, 65534, 0o600, registry, "LEG_REGISTRY="+local.MachineRegistry) {
		return
	}
	before, ok := devKVM(t)
	if !ok || before != (kvmPerms{65534, 65534, 0o600}) {
		t.Fatalf("stand-in /dev/kvm %+v (present %v), want 65534:65534 0600", before, ok)
	}
	if others := registeredLegs(t); len(others) > 0 {
		t.Fatalf("the namespace's leg registry is not empty: %v", others)
	}
	kvm, err := user.LookupGroup("kvm")
	if err != nil {
		t.Fatalf("no kvm group on this machine: %v", err)
	}
	kvmGID, _ := strconv.Atoi(kvm.Gid)

	ctx := context.Background()
	dir := t.TempDir()
	p := newProvider(t, dir)
	l := newLeg(t, tempUser(t), "kvm")
	var j providers.MemJournal
	h, err := p.Create(ctx, l.req, &j)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { newProvider(t, dir).Destroy(context.Background(), l.req.Identity) })
	if during, _ := devKVM(t); during != (kvmPerms{0, uint32(kvmGID), 0o660}) {
		t.Errorf("/dev/kvm %+v during the leg, want root:kvm 0660", during)
	}
	if !slices.Contains(kinds(j.Records()), "devkvm-perms") {
		t.Errorf("journal %v lacks the /dev/kvm change", kinds(j.Records()))
	}
	if out, ok := testhost.Exec(t, login(t, h, l), "test -r /dev/kvm && test -w /dev/kvm && echo rw"); !ok || out != "rw" {
		t.Errorf("the suite user cannot open /dev/kvm read-write: %q", out)
	}

	rep, err := newProvider(t, dir).Destroy(ctx, l.req.Identity)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kinds(rep.Deleted), "devkvm-perms") {
		t.Errorf("report %v (notes %q) does not say /dev/kvm was restored", kinds(rep.Deleted), rep.Notes)
	}
	if after, _ := devKVM(t); after != before {
		t.Errorf("/dev/kvm %+v after Destroy, was %+v", after, before)
	}
}
