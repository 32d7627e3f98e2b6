package testhost

import (
	"os"
	"syscall"
	"testing"
)

// TestKVMGroupHost: with KVMGroup a session sees /dev/kvm root:kvm 0660,
// as a cloud host booted from the cycle's cloud-config has it, so a user
// in the kvm group opens it read-write and one outside the group cannot,
// while the machine's own node (here the namespace's stand-in, root:root
// 0600 as a /dev without udev makes it, so this runs on any machine) keeps
// its owner and mode.
func TestKVMGroupHost(t *testing.T) {
	RequireRoot(t)
	if !InStandInKVMOwned(t, 0, 0, 0o600, "") {
		return
	}
	member, outsider := tempUser(t), tempUser(t)
	signer, line := ClientKey(t)
	h := Start(t, Options{KVMGroup: true, Users: []User{
		{Name: member, AuthorizedKeys: []string{line}, Groups: []string{"kvm"}},
		{Name: outsider, AuthorizedKeys: []string{line}},
	}})
	for _, tc := range []struct {
		user    string
		canOpen bool
	}{{member, true}, {outsider, false}} {
		c, err := dial(t, h, tc.user, signer, h.HostKey())
		if err != nil {
			t.Fatal(err)
		}
		if out, ok := Exec(t, c, "stat -c '%U:%G %a' /dev/kvm"); !ok || out != "root:kvm 660" {
			t.Errorf("as %s: /dev/kvm is %q (ok %v), want root:kvm 660", tc.user, out, ok)
		}
		if out, ok := Exec(t, c, ": <>/dev/kvm"); ok != tc.canOpen {
			t.Errorf("as %s: /dev/kvm opens read-write = %v (%q), want %v", tc.user, ok, out, tc.canOpen)
		}
		c.Close()
	}
	fi, err := os.Stat("/dev/kvm")
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("the machine's /dev/kvm is now %d:%d %o, want it left root:root 600", st.Uid, st.Gid, fi.Mode().Perm())
	}
}
