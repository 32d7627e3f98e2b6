package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestUndoOnHostLastFirst: a kept host's cleanups are undone last recorded
// first (a directory made for a file is removed after the file), and one
// failing does not stop the others; its error is named. The cleanups run
// over real SSH and record their order in a file on the (loopback) host.
func TestUndoOnHostLastFirst(t *testing.T) {
	testhost.RequireRoot(t)
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	h := testhost.Start(t, testhost.Options{Users: []testhost.User{testHostUser(authorized)}})
	signer, err := remote.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := remote.Dial(t.Context(), remote.Target{Addr: h.Addr(), Port: h.Port(), User: testUser, Signer: signer, HostKey: h.HostKey()}, remote.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	log := filepath.Join(hostDir(t), "order")
	record := func(name string) string { return "echo " + name + " >> " + remote.Quote(log) }
	cleanups := []HostCleanup{
		{Name: "first", Command: record("first")},
		{Name: "skipped", If: "false", Command: record("skipped")},
		{Name: "broken", Command: record("broken") + " && exit 7"},
		{Name: "last", If: "true", Command: record("last")},
	}
	err = UndoOnHost(context.Background(), c, cleanups)
	if err == nil || !strings.Contains(err.Error(), "broken: exited 7") {
		t.Errorf("err %v, want the broken cleanup's exit named", err)
	}
	got, rerr := os.ReadFile(log)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if want := "last\nbroken\nfirst\n"; string(got) != want {
		t.Errorf("cleanups ran in order %q, want %q (last recorded first, the failing one not stopping the rest)", got, want)
	}
}
