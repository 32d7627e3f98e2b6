package local_test

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
)

// TestDestroyKeepsWhatItFailedToUndo: a change Destroy could not undo stays
// in the leg's state, so the retry (the post step after `down`, or `down`
// again) undoes it instead of leaving the account on this machine. The
// fault is userdel failing as it does when another tool holds the account
// files' lock: a stand-in earlier in PATH, for this process only.
func TestDestroyKeepsWhatItFailedToUndo(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	name := tempUser(t)
	l := newLeg(t, name, "no-kvm")
	p := newProvider(t, dir)
	var j providers.MemJournal
	forceClean(t, dir, l, &j)
	if _, err := p.Create(ctx, l.req, &j); err != nil {
		t.Fatal(err)
	}

	stub := t.TempDir()
	script := "#!/bin/sh\necho 'userdel: cannot lock /etc/passwd; try again later.' >&2\nexit 10\n"
	if err := os.WriteFile(filepath.Join(stub, "userdel"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("PATH")
	t.Setenv("PATH", stub+string(os.PathListSeparator)+path)

	_, err := newProvider(t, dir).Destroy(ctx, l.req.Identity)
	if err == nil || !strings.Contains(err.Error(), "cannot lock /etc/passwd") {
		t.Fatalf("Destroy with userdel failing = %v, want userdel's error", err)
	}
	if _, err := user.Lookup(name); err != nil {
		t.Fatalf("user %s gone although userdel failed: the fault was not injected (%v)", name, err)
	}
	f := providers.Filter{Run: l.req.Identity.Run(), Key: l.req.Identity.Key}
	listed, err := p.List(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(listed, func(r providers.Resource) bool { return r.Kind == "user" && r.ID == name }) {
		t.Fatalf("after the failed Destroy the leg's state lists %v, want the user %s it failed to delete", kinds(listed), name)
	}
	// What was undone is not tried again.
	if slices.Contains(kinds(listed), "sudoers") {
		t.Errorf("after the failed Destroy the leg's state still lists the removed sudoers drop-in: %v", kinds(listed))
	}

	os.Setenv("PATH", path)
	rep, err := newProvider(t, dir).Destroy(ctx, l.req.Identity)
	if err != nil {
		t.Fatalf("Destroy once userdel works: %v", err)
	}
	if _, err := user.Lookup(name); err == nil {
		t.Errorf("user %s still exists after the retried Destroy (report %v)", name, kinds(rep.Deleted))
	}
	if !slices.Contains(kinds(rep.Deleted), "user") {
		t.Errorf("retried Destroy reports %v deleted, want the user", kinds(rep.Deleted))
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 0 {
		t.Errorf("state files left after the retried Destroy: %v", files)
	}
}
