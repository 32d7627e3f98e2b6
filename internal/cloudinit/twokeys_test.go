package cloudinit

import (
	"slices"
	"testing"
)

// Two authorized keys (a rotation: old and new) both reach the suite's
// user and root's clean authorized_keys file, one a line, in order.
func TestTwoAuthorizedKeysReachUserAndRoot(t *testing.T) {
	c := minimalConfig(t)
	second := newKey(t, 3)
	c.AuthorizedKeys = append(c.AuthorizedKeys, "  "+second.pub+"\n")
	want := []string{c.AuthorizedKeys[0], second.pub}
	out, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, out)
	if len(p.Users) != 1 || !slices.Equal(p.Users[0].SSHAuthorizedKeys, want) {
		t.Errorf("users = %+v, want one user with keys %q", p.Users, want)
	}
	var root []string
	for _, f := range p.WriteFiles {
		if f.Path == rootKeysPath {
			root = append(root, f.Content)
		}
	}
	if wantRoot := want[0] + "\n" + want[1] + "\n"; len(root) != 1 || root[0] != wantRoot {
		t.Errorf("%s written as %q, want once as %q", rootKeysPath, root, wantRoot)
	}
}
