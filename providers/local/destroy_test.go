package local_test

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/local"
)

// TestDestroyKeepsWhatItFailedToUndo: a change Destroy could not undo stays
// in the leg's state, so the retry (the post step after `down`, or `down`
// again) undoes it instead of leaving the account on this machine. The
// fault is userdel failing as it does when another tool holds the account
// files' lock: a stand-in earlier in PATH, for this process only.
func TestDestroyKeepsWhatItFailedToUndo(t *testing.T) {
	testhost.RequireRoot(t)
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

// TestDestroyAfterKillBeforeSSHDRecorded: a run killed after sshd started
// but before it was recorded still leaves Destroy what to remove: sshd's
// private directory (the host key in it) and its log were recorded before
// it started, and sshd itself runs among the leg's processes.
func TestDestroyAfterKillBeforeSSHDRecorded(t *testing.T) {
	testhost.RequireRoot(t)
	dir := t.TempDir()
	p := newProvider(t, dir)
	l := newLeg(t, "root", "kvm")
	var j providers.MemJournal
	forceClean(t, dir, l, &j)
	var pid int
	var sshdDir string
	local.WithSSHDStarted(p, func(s *sshd.Server) {
		pid, sshdDir = s.Pid(), s.Dir()
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
		runtime.Goexit() // as a kill would, Create goes no further
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Create(context.Background(), l.req, &j)
	}()
	<-done
	if pid == 0 {
		t.Fatal("Create ended before sshd started")
	}
	// sshd must outlive Create here, as it outlives a killed run: were it
	// gone already, Destroy finding it stopped would prove nothing.
	if !proc.Alive(pid) {
		t.Fatalf("sshd %d is not running before Destroy: the kill left nothing for Destroy to stop", pid)
	}
	logFile := filepath.Join(dir, l.req.Identity.Name()+".sshd.log")
	for _, path := range []string{sshdDir, logFile} {
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("%s not there after sshd started: %v", path, err)
		}
	}
	if _, err := newProvider(t, dir).Destroy(context.Background(), l.req.Identity); err != nil {
		t.Fatal(err)
	}
	if proc.Alive(pid) {
		t.Errorf("sshd %d still runs after Destroy", pid)
	}
	for _, path := range []string{sshdDir, logFile} {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Destroy (stat: %v)", path, err)
		}
	}
	if left, err := newProvider(t, dir).List(context.Background(), providers.Filter{Run: l.req.Identity.Run(), Key: l.req.Identity.Key, Leg: l.req.Identity.Leg}); err != nil || len(left) != 0 {
		t.Errorf("List after Destroy: %v %v", left, err)
	}
}
