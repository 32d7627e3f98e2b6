package cli_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers/local"
)

// TestRepeatedSIGTERMStillTearsDown sends SIGTERM the way GNU timeout
// does — to the process, then to its process group — during a local run's
// suite, and again to both once the run has taken the first and is
// tearing down. The copies must not cut the teardown short (the default
// action of a reset signal would kill the run there, leaving sshd running,
// the leg's state behind and no result): the run ends by itself, cancelled,
// with result.json written and nothing of the leg left on the machine.
func TestRepeatedSIGTERMStillTearsDown(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	stateDir := filepath.Join(tmp, "state")
	pidN := strconv.Itoa(os.Getpid())
	inStep := "7" + pidN + "5"
	// The step ignores SIGTERM and SIGHUP, so the local teardown has to
	// wait out its grace before it kills it: the repeats arrive while the
	// teardown is still under way.
	suite := writeSuite(t, `
user: root
steps:
  - name: stubborn
    run: trap '' TERM HUP; echo started; sleep `+inStep+`
`)
	cmd := exec.Command(bin, "run", "--provider", "local", "--suite", suite, "--out", out,
		"--local-state-dir", stateDir, "--timeout-minutes", "10")
	cmd.Env = cmdEnv(t)
	cmd.Env[len(cmd.Env)-1] = "TMPDIR=" + tmp
	// A group of its own, as timeout makes, so the group's copy reaches
	// the run and nothing of the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Should the run be killed after all, down tears down what it left,
	// so a failing test does not leave a leg on the machine.
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(out, "host")); err == nil {
			exec.Command(bin, "down", "--out", out).Run()
		}
	})
	exited := make(chan error, 1)
	var seen strings.Builder
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if !found && strings.Contains(sc.Text(), "started") {
				found = true
				started <- true
			}
		}
		if !found {
			started <- false
		}
	}()
	var errs strings.Builder
	tearing := make(chan bool, 1)
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			errs.WriteString(sc.Text() + "\n")
			if !found && strings.Contains(sc.Text(), "tearing down") {
				found = true
				tearing <- true
			}
		}
		if !found {
			tearing <- false
		}
	}()
	if !<-started {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the suite never started:\n%s", seen.String())
	}
	leg := localSSHD(t, stateDir)
	legName := legStateName(t, stateDir)
	workDir := legWorkDir(t, stateDir)

	asTimeout := func() {
		t.Helper()
		pid := cmd.Process.Pid
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The group: mvm-verify's own (sshd has a group of its own). It
		// may be gone already if the run has ended.
		if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatal(err)
		}
	}
	asTimeout()
	if !<-tearing {
		t.Fatalf("the run never said it was tearing down:\n%s", errs.String())
	}
	// Now the first has been taken: copies from here on find the handler
	// as it stays for the rest of the run.
	asTimeout()
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the run did not end after SIGTERM")
	}
	<-errDone
	output := seen.String() + errs.String()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("the run was killed by %v mid-teardown:\n%s", ws.Signal(), output)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d after SIGTERM, want 1 (cancelled)\n%s", code, output)
	}
	if !strings.Contains(errs.String(), "SIGTERM ignored") {
		t.Errorf("no note that the repeated SIGTERM was ignored:\n%s", errs.String())
	}
	res := result{out: out}.resultJSON(t)
	if res["outcome"] != "cancelled" {
		t.Errorf("outcome %v, want cancelled\n%s", res["outcome"], output)
	}
	if p := phaseStatus(t, filepath.Join(out, "result.json"), "teardown"); p != "pass" {
		t.Errorf("teardown phase %q, want pass\n%s", p, output)
	}
	if leg.running() {
		t.Errorf("the leg's sshd (pid %d) still runs", leg.Pid)
	}
	for _, path := range []string{leg.Dir, workDir, filepath.Join(stateDir, legName+".json"),
		filepath.Join(local.MachineRegistry, legName+".ref"), filepath.Join(out, "host")} {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after the teardown (stat: %v)", path, err)
		}
	}
	for _, s := range []string{tmp, "sleep " + inStep} {
		if left := processesMentioning(t, s); len(left) > 0 {
			t.Errorf("processes of the run still running: %v", left)
		}
	}
	if left := processesWithEnv(t, leg.Marker); len(left) > 0 {
		t.Errorf("processes with the leg's marker still running: %v", left)
	}
}

// legStateName is the local leg's name, from its state file.
func legStateName(t *testing.T, stateDir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "mvmv-*.json"))
	if len(files) != 1 {
		t.Fatalf("want one local leg's state in %s, found %v", stateDir, files)
	}
	return strings.TrimSuffix(filepath.Base(files[0]), ".json")
}
