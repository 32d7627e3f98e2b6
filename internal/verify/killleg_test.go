package verify

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/proc"
)

// TestKillLegScriptTermsFirst: the teardown's stop of the suite's
// processes asks before it kills. A process of the leg that holds a lock
// file and removes it on TERM (a login shell's rehash) gets to; one that
// ignores TERM is killed all the same; a process without the leg's marker
// is left alone.
func TestKillLegScriptTermsFirst(t *testing.T) {
	var b [8]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	dir := t.TempDir()
	lock, trapSet := filepath.Join(dir, "lock"), filepath.Join(dir, "ignoring")
	// Each process is reaped by its own goroutine; the test reads its end
	// from ended.
	type started struct {
		cmd   *exec.Cmd
		ended chan struct{}
	}
	start := func(script string, marked bool) started {
		cmd := exec.Command("bash", "-c", script)
		if marked {
			cmd.Env = append(os.Environ(), legMarkerVar+"="+token)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ended := make(chan struct{})
		go func() { cmd.Wait(); close(ended) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-ended })
		return started{cmd, ended}
	}
	holder := start("touch "+lock+"; trap 'rm -f "+lock+"' EXIT; while :; do sleep 0.05; done", true)
	stubborn := start("trap '' TERM; touch "+trapSet+"; while :; do sleep 0.05; done", true)
	bystander := start("sleep 300", false)
	bystanderStart, err := proc.StartTime(bystander.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{lock, trapSet} {
		for deadline := time.Now().Add(10 * time.Second); ; {
			if _, err := os.Stat(f); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never appeared: the test's processes did not start", f)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if out, err := exec.Command("bash", "-c", killLegScript(token)).CombinedOutput(); err != nil {
		t.Fatalf("kill script: %v: %s", err, out)
	}
	for name, p := range map[string]started{"the lock holder": holder, "the TERM-ignoring process": stubborn} {
		select {
		case <-p.ended:
		case <-time.After(10 * time.Second):
			t.Errorf("%s still runs 10 s after the kill script ended", name)
		}
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("the lock file is left (stat: %v): its holder was killed without a TERM", err)
	}
	if !proc.Started(bystander.cmd.Process.Pid, bystanderStart) {
		t.Errorf("a process without the leg's marker was ended")
	}
}
