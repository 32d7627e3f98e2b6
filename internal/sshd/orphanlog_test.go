package sshd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestStopWithTheLogHeldByAnOrphan: a process sshd's death leaves behind
// (a session child reparented away from it, as a loaded CI machine saw)
// may still hold sshd's stderr, our log pipe. Stop must still end once
// sshd itself is reaped, not wait on the pipe for as long as the orphan
// lives: it hung CI for minutes.
func TestStopWithTheLogHeldByAnOrphan(t *testing.T) {
	requireRoot(t)
	_, line := clientKey(t)
	s, err := Start(context.Background(), Config{AuthorizedKeys: map[string][]string{"root": {line}}})
	if err != nil {
		t.Fatal(err)
	}
	// The orphan: not sshd's descendant, so Stop does not signal it, with
	// sshd's stderr as its own.
	logPipe, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", s.Pid()), os.O_WRONLY, 0)
	if err != nil {
		s.Stop(context.Background())
		t.Fatalf("open sshd's stderr: %v", err)
	}
	orphan := exec.Command("sleep", "600")
	orphan.Stderr = logPipe
	orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = orphan.Start()
	logPipe.Close()
	if err != nil {
		s.Stop(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() {
		orphan.Process.Kill()
		orphan.Wait()
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop with sshd's log held open by a process that outlived it: %v", err)
	}
	if err := orphan.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the orphan is gone (%v): the test held nothing open", err)
	}
}
