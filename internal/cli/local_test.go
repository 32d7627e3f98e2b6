package cli_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// seccompCrate is the tiny std-only crate whose test installs a seccomp
// filter; cargo runs it offline on the host.
func seccompCrate(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "libtest", "testdata", "seccompcrate")
	if _, err := os.Stat(filepath.Join(dir, "Cargo.toml")); err != nil {
		t.Fatalf("seccomp crate: %v", err)
	}
	return dir
}

func requireCargo(t *testing.T) {
	t.Helper()
	if err := exec.Command("bash", "-lc", "command -v cargo").Run(); err != nil {
		t.Fatal("cargo is not on root's login PATH: install Debian's cargo (.ci/run does)")
	}
}

// localRun runs `mvm-verify run --provider local` with a suite.
func localRun(t *testing.T, suite string, extra ...string) result {
	t.Helper()
	requireRoot(t)
	out := filepath.Join(t.TempDir(), "out")
	args := append([]string{"run", "--provider", "local", "--suite", writeSuite(t, suite),
		"--out", out, "--local-state-dir", t.TempDir(), "--timeout-minutes", "10"}, extra...)
	return runBin(t, cmdEnv(t), args...)
}

func TestRunLocalPassingSuite(t *testing.T) {
	requireCargo(t)
	crate := seccompCrate(t)
	// A daemon the step leaves behind, detached from sshd's process tree:
	// teardown must still end it.
	daemon := "sleep 7" + strconv.Itoa(os.Getpid()) + "3"
	suite := `
user: root
steps:
  - name: hello
    run: test "$(id -un)" = root && echo hello from the host && { setsid ` + daemon + ` >/dev/null 2>&1 & }
    column: Live cycle
  - name: seccomp probe
    # --show-output, so a gated test's skip line would be seen; the gate
    # is open, so the gated test installs its filter too.
    run: cd ` + crate + ` && CARGO_TARGET_DIR=$(mktemp -d) SECCOMPCRATE_LIVE=1 cargo test --offline -- --show-output
    parse: libtest
    column: Seccomp probe
    timeout: 5m
`
	r := localRun(t, suite)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"==> preflight", "==> provision", "==> ready", "==> probe", "==> suite", "==> collect", "==> teardown", "hello from the host"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("progress lacks %q", want)
		}
	}
	sum := r.file(t, "summary.md")
	row := rowLine(t, sum)
	cells := strings.Split(row, "|")
	// | Provider | Preflight | Live cycle | Seccomp probe | Notes |
	if len(cells) < 6 {
		t.Fatalf("row %q has too few cells", row)
	}
	for i, col := range []string{"Preflight", "Live cycle", "Seccomp probe"} {
		if !strings.Contains(cells[2+i], "✅") {
			t.Errorf("row %q: want %s ✅", row, col)
		}
	}
	res := r.resultJSON(t)
	if res["outcome"] != "verified" {
		t.Errorf("outcome %v, want verified", res["outcome"])
	}
	if left := processesMentioning(t, daemon); len(left) > 0 {
		t.Errorf("the step's detached process survived teardown: %v", left)
	}
	steps := res["steps"].([]any)
	tests := steps[1].(map[string]any)["tests"].(map[string]any)
	if tests["Passed"] == nil && tests["passed"] == nil {
		t.Errorf("seccomp step has no libtest counts: %v", tests)
	}
	if !strings.Contains(sum, "passed") {
		t.Errorf("summary lacks the libtest counts:\n%s", sum)
	}
	// The collect phase keeps the host's logs beside the steps' for artifacts.
	for _, name := range []string{"01-hello.log", "kernel-log.log", "journal.log"} {
		if text := r.file(t, filepath.Join("logs", name)); strings.TrimSpace(text) == "" {
			t.Errorf("logs/%s is empty", name)
		}
	}
	if !strings.Contains(sum, "<summary>journal</summary>") {
		t.Errorf("summary lacks the collected journal")
	}
}

func TestRunLocalFailingStep(t *testing.T) {
	suite := `
user: root
steps:
  - name: ok step
    run: "true"
  - name: smoke
    run: echo boom >&2; exit 3
    column: Live cycle
`
	r := localRun(t, suite)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	row := rowLine(t, r.file(t, "summary.md"))
	cells := strings.Split(row, "|")
	if !strings.Contains(cells[3], "❌") {
		t.Errorf("Live cycle cell in %q is not ❌", row)
	}
	if !strings.Contains(cells[5], "smoke") || !strings.Contains(cells[5], "exit status 3") {
		t.Errorf("Notes in %q do not name the failure", row)
	}
	if !strings.Contains(r.file(t, "summary.md"), "boom") {
		t.Errorf("summary lacks the failing step's log")
	}
}

// TestRunLocalNoKVMLane runs in a mount namespace whose /dev/kvm is the
// test's own node, so the lane has a /dev/kvm to hide whether or not this
// machine has KVM.
func TestRunLocalNoKVMLane(t *testing.T) {
	requireRoot(t)
	suite := writeSuite(t, `
user: root
steps:
  - name: kvm hidden
    run: test ! -e /dev/kvm
  - name: mvm smoke
    run: "false"
    needs: [kvm]
    column: Live cycle
`)
	out := filepath.Join(t.TempDir(), "out")
	prefix, env := standInKVM(t, 0, 0, 0o666)
	r := runBinIn(t, prefix, cmdEnv(t, env...), "run", "--provider", "local", "--suite", suite,
		"--out", out, "--local-state-dir", t.TempDir(), "--timeout-minutes", "10", "--lane", "no-kvm")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	row := rowLine(t, r.file(t, "summary.md"))
	cells := strings.Split(row, "|")
	if !strings.Contains(cells[3], "n/a") {
		t.Errorf("Live cycle cell in %q is not n/a", row)
	}
	res := r.resultJSON(t)
	if res["lane"] != "no-kvm" {
		t.Errorf("lane %v, want no-kvm", res["lane"])
	}
	probe, _ := res["probe"].(map[string]any)
	if probe == nil || probe["lane"] != "no-kvm" {
		t.Errorf("the host probe did not run or did not see the no-KVM host: %v", probe)
	}
	steps := res["steps"].([]any)
	if st := steps[1].(map[string]any); st["status"] != "n/a" {
		t.Errorf("kvm step status %v, want n/a", st["status"])
	}
}

// On a machine without usable KVM, lane auto runs the no-kvm lane: the
// quick start works there too, with KVM steps n/a. The run happens in a
// mount namespace whose /dev/kvm is a null device (present, no KVM API).
func TestRunLocalAutoLaneWithoutKVM(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	suite := writeSuite(t, `
user: root
steps:
  - name: host
    run: "true"
  - name: mvm smoke
    run: "false"
    needs: [kvm]
    column: Live cycle
`)
	// A node of its own (the null device's numbers), so whatever the run
	// does to /dev/kvm's mode never touches the machine's devices, and a
	// machine without KVM has a /dev/kvm too.
	prefix, env := standInKVM(t, 0, 0, 0o666)
	r := runBinIn(t, prefix, cmdEnv(t, env...), "run", "--provider", "local", "--suite", suite, "--out", out,
		"--local-state-dir", filepath.Join(dir, "state"), "--timeout-minutes", "10")
	output := r.stdout + r.stderr
	if r.code != 0 {
		t.Fatalf("run with a /dev/kvm that is no KVM: exit %d\n%s", r.code, output)
	}
	res := result{out: out}.resultJSON(t)
	if res["lane"] != "no-kvm" || res["outcome"] != "verified" {
		t.Errorf("lane %v, outcome %v; want no-kvm, verified\n%s", res["lane"], res["outcome"], output)
	}
	if row := rowLine(t, result{out: out}.file(t, "summary.md")); !strings.Contains(strings.Split(row, "|")[3], "n/a") {
		t.Errorf("Live cycle cell in %q is not n/a", row)
	}
}

func TestSIGTERMDuringSuiteCleansUp(t *testing.T) { sigtermDuringSuite(t, nil) }

// Closing the terminal or the ssh session a run was started from sends
// SIGHUP: the same teardown as SIGTERM.
func TestSIGHUPDuringSuiteCleansUp(t *testing.T) {
	signalDuringSuite(t, syscall.SIGHUP, false, nil)
}

// `mvm-verify run … | head` closes the pipe under the run: its writes fail
// from then on, but it is not killed by SIGPIPE before its teardown.
func TestClosedStdoutStillCleansUp(t *testing.T) {
	signalDuringSuite(t, syscall.SIGTERM, true, nil)
}

// A host that has stopped answering (the local sshd's session processes
// frozen, as the audit did by hand) must not eat the 7 s after the signal:
// the teardown still gets a live budget and passes.
func TestSIGTERMWithFrozenHostCleansUp(t *testing.T) {
	sigtermDuringSuite(t, func(tmp string) {
		var listeners []int
		for _, p := range processesMentioning(t, tmp) {
			pid, cmdline, _ := strings.Cut(p, ": ")
			if strings.Contains(cmdline, "sshd") && !strings.Contains(cmdline, bin) {
				n, _ := strconv.Atoi(pid)
				listeners = append(listeners, n)
			}
		}
		if len(listeners) != 1 {
			t.Fatalf("want the local provider's one sshd, found %v", processesMentioning(t, tmp))
		}
		for _, pid := range sshd.Descendants(listeners[0]) {
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatalf("SIGSTOP %d: %v", pid, err)
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
		}
	})
}

// sigtermDuringSuite sends SIGTERM to a local run while its step runs,
// after before (when set) has done its part to the host.
func sigtermDuringSuite(t *testing.T, before func(tmp string)) {
	signalDuringSuite(t, syscall.SIGTERM, false, before)
}

// signalDuringSuite is sigtermDuringSuite with the signal to send and,
// with closeStdout, the run's stdout pipe closed before it is sent.
func signalDuringSuite(t *testing.T, sig syscall.Signal, closeStdout bool, before func(tmp string)) {
	requireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	// Numbers no other process uses, so a leftover step process is seen
	// whatever its command line; one detaches from sshd's process tree.
	pidN := strconv.Itoa(os.Getpid())
	detached, inStep := "7"+pidN+"1", "7"+pidN+"2"
	suite := writeSuite(t, `
user: root
steps:
  - name: long
    run: setsid sleep `+detached+` >/dev/null 2>&1 & echo started; sleep `+inStep+`
`)
	cmd := exec.Command(bin, "run", "--provider", "local", "--suite", suite, "--out", out,
		"--local-state-dir", filepath.Join(tmp, "state"), "--timeout-minutes", "10")
	cmd.Env = cmdEnv(t)
	cmd.Env[len(cmd.Env)-1] = "TMPDIR=" + tmp
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "started") {
			break
		}
	}
	if !strings.Contains(seen.String(), "started") {
		cmd.Process.Kill()
		t.Fatalf("the suite never started:\n%s", seen.String())
	}
	// The probe ran before the suite: its binary is on the host.
	workDir := legWorkDir(t, filepath.Join(tmp, "state"))
	if _, err := os.Stat(filepath.Join(workDir, "mvm-verify")); err != nil {
		cmd.Process.Kill()
		t.Fatalf("no probe binary on the host while the suite runs: %v", err)
	}
	if before != nil {
		before(tmp)
	}
	if closeStdout {
		stdout.Close()
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if !closeStdout {
		go func() {
			for sc.Scan() {
				seen.WriteString(sc.Text() + "\n")
			}
		}()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the run did not end after %v", sig)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Errorf("the run was killed by %v instead of tearing down", ws.Signal())
	}
	if cmd.ProcessState.ExitCode() == 0 {
		t.Errorf("exit 0 after %v, want non-zero", sig)
	}
	for _, s := range []string{tmp, "sleep " + detached, "sleep " + inStep} {
		if left := processesMentioning(t, s); len(left) > 0 {
			t.Errorf("processes of the run still running after SIGTERM: %v", left)
		}
	}
	if _, err := os.Lstat(workDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the uploaded probe binary's dir %s is left after SIGTERM (stat: %v)", workDir, err)
	}
	data, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatalf("no summary after SIGTERM: %v", err)
	}
	if !strings.Contains(string(data), "cancelled") {
		t.Errorf("summary does not say cancelled:\n%s", data)
	}
	if p := phaseStatus(t, filepath.Join(out, "result.json"), "teardown"); p != "pass" {
		t.Errorf("teardown phase %q, want pass", p)
	}
}

// legWorkDir is where the cycle uploads the probe binary for the one local
// leg whose state is in stateDir: /tmp/mvm-verify-<leg>.
func legWorkDir(t *testing.T, stateDir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "mvmv-*.json"))
	if len(files) != 1 {
		t.Fatalf("want one local leg's state in %s, found %v", stateDir, files)
	}
	return "/tmp/mvm-verify-" + strings.TrimSuffix(filepath.Base(files[0]), ".json")
}

// rowLine finds the matrix row (the line after the table's separator).
func rowLine(t *testing.T, md string) string {
	t.Helper()
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "| Provider |") && i+2 < len(lines) {
			return lines[i+2]
		}
	}
	t.Fatalf("no matrix row in:\n%s", md)
	return ""
}

// A user who is not root and cannot use this machine's /dev/kvm (not in
// the kvm group) runs the quick start as itself: lane auto is no-kvm, and
// the run needs no root to hide a KVM it cannot use anyway. The run sees a
// stand-in /dev/kvm, root:kvm 0660 as cloud-init leaves it, so the case
// exists whether or not this machine has KVM, and however open its own is.
func TestRunLocalAsUserWithoutKVMAccess(t *testing.T) {
	requireRoot(t)
	// Without a kvm group (a machine that never had KVM) root's group
	// keeps the user out just as well.
	kvmGID := 0
	if g, err := user.LookupGroup("kvm"); err == nil {
		if kvmGID, err = strconv.Atoi(g.Gid); err != nil {
			t.Fatalf("kvm group id %q: %v", g.Gid, err)
		}
	}
	prefix, standInEnv := standInKVM(t, 0, kvmGID, 0o660)
	const name = "mvmv-nokvm"
	exec.Command("userdel", "-r", "-f", name).Run()
	if out, err := exec.Command("useradd", "--create-home", "--user-group", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", "-r", "-f", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	home := u.HomeDir
	suite := filepath.Join(home, "suite.yml")
	if err := os.WriteFile(suite, []byte("user: "+name+"\nsteps:\n  - name: host\n    run: \"true\"\n  - name: kvm\n    run: \"false\"\n    needs: [kvm]\n    column: Live cycle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	copyBin := filepath.Join(home, "mvm-verify")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyBin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(home, "out")
	argv := append(slices.Clone(prefix), "setpriv", "--reuid="+u.Uid, "--regid="+u.Gid, "--init-groups", copyBin,
		"run", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", filepath.Join(home, "state"))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "USER=" + name, "TMPDIR=" + home}, standInEnv...)
	cmd.Dir = home
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run as %s: %v\n%s", name, err, output)
	}
	res := result{out: out}.resultJSON(t)
	if res["lane"] != "no-kvm" || res["outcome"] != "verified" {
		t.Errorf("lane %v, outcome %v; want no-kvm, verified\n%s", res["lane"], res["outcome"], output)
	}
	// The host probe, run as the user, saw the node and could not open it.
	probe, _ := res["probe"].(map[string]any)
	kvm, _ := probe["kvm"].(map[string]any)
	if kvm["device_present"] != true || kvm["open_rw"] != false {
		t.Errorf("the probe's view of /dev/kvm %v; want present and not openable by the user", kvm)
	}
}

// standInKVM returns the command prefix that runs a command in a private
// mount namespace whose /dev/kvm is a node of the test's own
// (testhost.StandInKVMScript) owned by uid:gid with mode perm, and the
// environment the prefix needs. The prefix checks the node is in place.
func standInKVM(t *testing.T, uid, gid int, perm os.FileMode) (prefix, env []string) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare is not installed (Debian package util-linux; .ci/run installs it)")
	}
	script := testhost.StandInKVMScript + "test -c /dev/kvm\nexec \"$@\"\n"
	return []string{unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-ec", script, "standin-kvm"},
		testhost.StandInKVM(t, uid, gid, perm)
}

// runBinIn is runBin with the binary run through prefix (a command that
// execs its arguments).
func runBinIn(t *testing.T, prefix, env []string, args ...string) result {
	t.Helper()
	out := ""
	for i, a := range args {
		if a == "--out" && i+1 < len(args) {
			out = args[i+1]
		}
	}
	argv := append(append(slices.Clone(prefix), bin), args...)
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String(), out: out}
}
