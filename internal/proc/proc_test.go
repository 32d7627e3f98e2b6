package proc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// start runs a command in a process group of its own and returns it; the
// test kills and reaps it at the end whatever happened.
func start(t *testing.T, cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// waitFor polls cond until it holds or the test's minute is up.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIdentity(t *testing.T) {
	cmd := start(t, nil, "sleep", "600")
	pid := cmd.Process.Pid
	st, err := StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(pid) || !Started(pid, st) {
		t.Fatalf("Alive/Started(%d, %d) = false for a running child", pid, st)
	}
	if Started(pid, st+1) {
		t.Errorf("Started accepted another start time: a reused pid would pass for the process")
	}
	if got := Comm(pid); got != "sleep" {
		t.Errorf("Comm(%d) = %q, want sleep", pid, got)
	}
	if !Running(pid, st, "sleep") {
		t.Errorf("Running(%d, %d, sleep) = false for a running sleep", pid, st)
	}
	if Running(pid, st, "sshd") {
		t.Errorf("Running accepted a process that runs another command")
	}
	pids, err := Pids()
	if err != nil || !slices.Contains(pids, pid) || !slices.Contains(pids, os.Getpid()) {
		t.Errorf("Pids() = %d pids, %v; want the child %d and this process among them", len(pids), err, pid)
	}

	cmd.Process.Kill()
	waitFor(t, "the killed child to become a zombie", func() bool { return !Alive(pid) })
	if _, err := StartTime(pid); err != nil {
		t.Errorf("StartTime of a zombie: %v; its stat stays readable until it is reaped", err)
	}
	if Started(pid, st) || Running(pid, st, "sleep") {
		t.Errorf("Started/Running hold for a zombie")
	}
	cmd.Wait()
	if _, err := StartTime(pid); err == nil {
		t.Errorf("StartTime(%d) of a reaped process: no error", pid)
	}
}

func TestTerminateTree(t *testing.T) {
	// The shell starts a grandchild in a session of its own, as sshd's
	// sessions are: the group alone would miss it.
	cmd := start(t, nil, "sh", "-c", "setsid sleep 600 & wait")
	pid := cmd.Process.Pid
	var desc []int
	waitFor(t, "the shell's setsid sleep", func() bool {
		desc = Descendants(pid)
		return slices.ContainsFunc(desc, func(p int) bool { return Comm(p) == "sleep" })
	})
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	if err := Terminate(context.Background(), pid, 5*time.Second, exited); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(desc, pid) {
		if Alive(d) {
			t.Errorf("process %d alive after Terminate", d)
		}
	}
	if err := Terminate(context.Background(), 0, time.Second, nil); err == nil {
		t.Errorf("Terminate(pid 0): no error")
	}
}

func TestKillUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("KillUID's test starts processes as another uid: run the tests as root, as CI does")
	}
	// A uid no account has, so no other process on the machine runs as it.
	const uid = 61917
	a := start(t, &syscall.Credential{Uid: uid, Gid: uid}, "sleep", "600")
	b := start(t, &syscall.Credential{Uid: uid, Gid: uid}, "sleep", "600")
	mine := start(t, nil, "sleep", "600")
	n, err := KillUID(uid)
	if err != nil || n != 2 {
		t.Fatalf("KillUID(%d) = %d, %v; want 2 (the two sleeps)", uid, n, err)
	}
	for _, c := range []*exec.Cmd{a, b} {
		if err := c.Wait(); err == nil {
			t.Errorf("process %d as uid %d exited cleanly; want killed", c.Process.Pid, uid)
		}
	}
	if !Alive(mine.Process.Pid) {
		t.Errorf("KillUID(%d) killed this test's own sleep", uid)
	}
	if n, err := KillUID(uid); err != nil || n != 0 {
		t.Errorf("second KillUID(%d) = %d, %v; want 0", uid, n, err)
	}
}

// TestKillUIDRefuses: root, a negative uid and the caller's own uid are
// refused before anything is signalled. The checks run in a copy of this
// test binary started as an unprivileged uid: were the guard gone, that
// copy could only signal its own processes (root's would answer EPERM),
// yet KillUID would still count them and the check would fail.
func TestKillUIDRefuses(t *testing.T) {
	if os.Getenv("PROC_REFUSE_CHILD") == "1" {
		for _, uid := range []int{0, -1, os.Geteuid()} {
			if n, err := KillUID(uid); err == nil || n != 0 {
				fmt.Printf("KillUID(%d) = %d, %v; want 0 and an error\n", uid, n, err)
				os.Exit(1)
			}
		}
		fmt.Println("refused")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Fatal("KillUID's refusal test runs a copy of itself as another uid: run the tests as root, as CI does")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	// The go-build directory is root's alone: the copy goes where the
	// unprivileged uid can run it.
	dir, err := os.MkdirTemp("", "proc-refuse-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "proc.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("the copy of the test binary at %s is out of reach of other uids: %s is not searchable (%v)", bin, d, err)
		}
	}
	const uid = 61918
	cmd := exec.Command(bin, "-test.run=^TestKillUIDRefuses$")
	cmd.Env = append(os.Environ(), "PROC_REFUSE_CHILD=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "refused") {
		t.Fatalf("KillUID as uid %d: %v\n%s", uid, err, out)
	}
}
