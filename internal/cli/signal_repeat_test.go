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

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers/local"
)

// stubbornRun is a local run of the binary in a process group of its own
// (as GNU timeout makes), stopped in its one step, which ignores SIGTERM
// and SIGHUP: the local teardown has to wait out its grace before it kills
// the step, so signals sent once the run is tearing down arrive while the
// teardown is still under way.
type stubbornRun struct {
	t                  *testing.T
	cmd                *exec.Cmd
	tmp, out, stateDir string
	inStep             string
	stdout, stderr     strings.Builder
	tearing            chan bool
	outDone, errDone   chan struct{}
	leg                localLeg
	legName, workDir   string
	exitCode           int
	killedBy           os.Signal
}

func startStubbornRun(t *testing.T, env ...string) *stubbornRun {
	t.Helper()
	testhost.RequireRoot(t)
	r := &stubbornRun{t: t, tmp: t.TempDir(), tearing: make(chan bool, 1), outDone: make(chan struct{}), errDone: make(chan struct{})}
	r.out = filepath.Join(r.tmp, "out")
	r.stateDir = filepath.Join(r.tmp, "state")
	r.inStep = "7" + strconv.Itoa(os.Getpid()) + "5"
	suite := writeSuite(t, `
user: `+freshCLISuiteUser(t)+`
steps:
  - name: stubborn
    run: trap '' TERM HUP; echo started; sleep `+r.inStep+`
`)
	r.cmd = exec.Command(bin, "run", "--provider", "local", "--suite", suite, "--out", r.out,
		"--local-state-dir", r.stateDir, "--timeout-minutes", "10")
	r.cmd.Env = cmdEnv(t, env...)
	r.cmd.Env = append(r.cmd.Env, "TMPDIR="+r.tmp) // the last TMPDIR wins
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Should the run be killed after all, down tears down what it left,
	// so a failing test does not leave a leg on the machine.
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(r.out, "host")); err == nil {
			exec.Command(bin, "down", "--out", r.out).Run()
		}
	})
	started := make(chan bool, 1)
	go func() {
		defer close(r.outDone)
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			r.stdout.WriteString(sc.Text() + "\n")
			if !found && strings.Contains(sc.Text(), "started") {
				found = true
				started <- true
			}
		}
		if !found {
			started <- false
		}
	}()
	go func() {
		defer close(r.errDone)
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			r.stderr.WriteString(sc.Text() + "\n")
			if !found && strings.Contains(sc.Text(), "tearing down") {
				found = true
				r.tearing <- true
			}
		}
		if !found {
			r.tearing <- false
		}
	}()
	if !<-started {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		t.Fatalf("the suite never started:\n%s", r.stdout.String())
	}
	r.leg = localSSHD(t, r.stateDir)
	r.legName = legStateName(t, r.stateDir)
	r.workDir = legWorkDir(t, r.stateDir)
	return r
}

// signal sends sig as GNU timeout does: to the process, then to its group
// (mvm-verify's own: sshd has a group of its own), which may be gone
// already if the run has ended.
func (r *stubbornRun) signal(sig syscall.Signal) {
	r.t.Helper()
	pid := r.cmd.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		r.t.Fatal(err)
	}
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		r.t.Fatal(err)
	}
}

// signalOnce sends sig to the process alone: exactly one signal, so
// nothing but it can have acted.
func (r *stubbornRun) signalOnce(sig syscall.Signal) {
	r.t.Helper()
	if err := syscall.Kill(r.cmd.Process.Pid, sig); err != nil {
		r.t.Fatal(err)
	}
}

// running reports whether the run's process has not exited: not yet
// waited for, an exited one stays as a zombie (state Z).
func (r *stubbornRun) running() bool {
	r.t.Helper()
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(r.cmd.Process.Pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name's closing parenthesis.
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// waitTearingDown waits until the run says it took the first signal.
func (r *stubbornRun) waitTearingDown() {
	r.t.Helper()
	if !<-r.tearing {
		r.t.Fatalf("the run never said it was tearing down:\n%s", r.stderr.String())
	}
}

// wait waits for the run to end and records how.
func (r *stubbornRun) wait() {
	r.t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(2 * time.Minute):
		r.cmd.Process.Kill()
		r.t.Fatalf("the run did not end after the signals")
	}
	<-r.outDone
	<-r.errDone
	r.exitCode = r.cmd.ProcessState.ExitCode()
	if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.killedBy = ws.Signal()
	}
}

func (r *stubbornRun) output() string { return r.stdout.String() + r.stderr.String() }

// nothingLeft checks that nothing of the leg is left on the machine.
func (r *stubbornRun) nothingLeft(after string) {
	r.t.Helper()
	if r.leg.running() {
		r.t.Errorf("the leg's sshd (pid %d) still runs after %s", r.leg.Pid, after)
	}
	for _, path := range []string{r.leg.Dir, r.workDir, filepath.Join(r.stateDir, r.legName+".json"),
		filepath.Join(local.MachineRegistry, r.legName+".ref"), filepath.Join(r.out, "host")} {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			r.t.Errorf("%s is left after %s (stat: %v)", path, after, err)
		}
	}
	// The sshd's files are under the run's TMPDIR, or /tmp when the
	// suite's user cannot reach that: by its dir too.
	for _, s := range []string{r.tmp, r.leg.Dir, "sleep " + r.inStep} {
		if left := processesMentioning(r.t, s); len(left) > 0 {
			r.t.Errorf("processes of the run still running after %s: %v", after, left)
		}
	}
	if left := processesWithEnv(r.t, r.leg.Marker); len(left) > 0 {
		r.t.Errorf("processes with the leg's marker still running after %s: %v", after, left)
	}
}

// TestRepeatedSIGTERMStillTearsDown sends SIGTERM the way GNU timeout
// does — to the process, then to its process group — during a local run's
// suite, and again to both once the run has taken the first and is
// tearing down. The copies must not cut the teardown short (the default
// action of a reset signal would kill the run there, leaving sshd running,
// the leg's state behind and no result): the run ends by itself, cancelled,
// with result.json written and nothing of the leg left on the machine.
func TestRepeatedSIGTERMStillTearsDown(t *testing.T) {
	r := startStubbornRun(t)
	r.signal(syscall.SIGTERM)
	r.waitTearingDown()
	// The first has been taken: copies from here on find the handler as
	// it stays for the rest of the run.
	r.signal(syscall.SIGTERM)
	r.wait()
	if r.killedBy != nil {
		t.Fatalf("the run was killed by %v mid-teardown:\n%s", r.killedBy, r.output())
	}
	if r.exitCode != 1 {
		t.Errorf("exit %d after SIGTERM, want 1 (cancelled)\n%s", r.exitCode, r.output())
	}
	if !strings.Contains(r.stderr.String(), "SIGTERM ignored") {
		t.Errorf("no note that the repeated SIGTERM was ignored:\n%s", r.stderr.String())
	}
	res := result{out: r.out}.resultJSON(t)
	if res["outcome"] != "cancelled" {
		t.Errorf("outcome %v, want cancelled\n%s", res["outcome"], r.output())
	}
	if p := phaseStatus(t, filepath.Join(r.out, "result.json"), "teardown"); p != "pass" {
		t.Errorf("teardown phase %q, want pass\n%s", p, r.output())
	}
	r.nothingLeft("the run's own teardown")
}

// Outside GitHub Actions, a second Ctrl-C that is no copy of the first
// quits at once with 130 — but first says what may be left and the down
// command, and that command then tears the leg down.
func TestSecondCtrlCQuitsWithTheDownCommand(t *testing.T) {
	// Any later Ctrl-C is deliberate here: no waiting out the window.
	r := startStubbornRun(t, "MVM_VERIFY_REPEAT_WINDOW=1ns")
	// The first Ctrl-C goes to the process alone, once: with the window
	// this short, a copy sent to the group as well would itself be a
	// second Ctrl-C, and the quit would not show the second one forces it.
	r.signalOnce(syscall.SIGINT)
	r.waitTearingDown()
	// The teardown's destroy waits for the machine lock the test holds,
	// so the second Ctrl-C surely comes while the run tears down: the
	// stubborn step alone is killed a second after the first (on a loaded
	// machine the run could end before the second came).
	_, release := holdMachineLock(t)
	defer release()
	if !r.running() {
		r.wait()
		t.Fatalf("the run ended after the first Ctrl-C alone (exit %d), before the second:\n%s", r.exitCode, r.output())
	}
	r.signal(syscall.SIGINT)
	r.wait()
	release()
	if r.killedBy != nil || r.exitCode != 130 {
		t.Fatalf("after a second Ctrl-C: exit %d, killed by %v; want exit 130\n%s", r.exitCode, r.killedBy, r.output())
	}
	errs := r.stderr.String()
	downCmd := "mvm-verify down --out " + r.out
	for _, want := range []string{"quitting at once", "local sshd pid " + strconv.Itoa(r.leg.Pid), downCmd} {
		if !strings.Contains(errs, want) {
			t.Errorf("the forced quit does not say %q:\n%s", want, errs)
		}
	}
	// What the message says to run, run: it finishes the teardown.
	down := runBin(t, cmdEnv(t), "down", "--out", r.out)
	if down.code != 0 {
		t.Errorf("%s: exit %d\n%s%s", downCmd, down.code, down.stdout, down.stderr)
	}
	r.nothingLeft("the forced quit and down")
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
