package cli_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
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

	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
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
	testhost.RequireRoot(t)
	out := filepath.Join(t.TempDir(), "out")
	args := providertest.WithArgs([]string{"run", "--provider", "local", "--suite", writeSuite(t, suite),
		"--out", out, "--local-state-dir", t.TempDir(), "--timeout-minutes", "10"}, extra...)
	return runBin(t, cmdEnv(t), args...)
}

// e2eUser is the passing run's suite user: not root, as the built-in suite's
// mvm is not, and a name no other test creates, so the run itself makes it.
const e2eUser = "mvr-e2e"

// The built-in suite's shape end to end: a non-root suite user the run
// creates as cloud-init would, steps run as that user through a login
// shell, the seccomp step exactly as the suite runs it, and nothing of the
// user left afterwards.
func TestRunLocalPassingSuite(t *testing.T) {
	testhost.RequireRoot(t)
	requireUserCargo(t)
	if out, err := exec.Command("getent", "passwd", e2eUser).Output(); err == nil {
		// Left by an earlier run that was killed before its teardown.
		t.Logf("removing a leftover user %s: %s", e2eUser, out)
		exec.Command("userdel", "-r", "-f", e2eUser).Run()
	}
	// Whatever a failed run left of the user goes after the test: the
	// assertions below have seen it by then.
	t.Cleanup(func() {
		exec.Command("userdel", "-r", "-f", e2eUser).Run()
		dropIns, _ := filepath.Glob("/etc/sudoers.d/mvm-verify-*")
		for _, path := range dropIns {
			if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), e2eUser+" ") {
				os.Remove(path)
			}
		}
	})
	crate := readableCrateCopy(t)
	wantPassed := testsInFile(t, filepath.Join(crate, "tests", "seccomp_apply.rs"))
	// A daemon the step leaves behind, detached from sshd's process tree:
	// teardown must still end it.
	daemon := "sleep 7" + strconv.Itoa(os.Getpid()) + "3"
	suite := `
user: ` + e2eUser + `
steps:
  - name: hello
    run: |
      set -e
      echo "user=$(id -un)"
      echo "groups=$(id -Gn)"
      echo "home=$HOME"
      test -O "$HOME"
      sudo -n true && echo "sudo=nopasswd"
      echo hello from the host
      { setsid ` + daemon + ` >/dev/null 2>&1 & }
    column: Live cycle
  - name: seccomp probe
    # As the built-in suite runs it; the crate is root's, so the build goes
    # to a directory of the user's own.
    run: target=$(mktemp -d) && trap 'rm -rf "$target"' EXIT && cd ` + crate + ` && CARGO_TARGET_DIR=$target cargo test --offline --test seccomp_apply -- --show-output
    parse: libtest
    column: Seccomp probe
    timeout: 5m
`
	tmp := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp}
	r := runBin(t, env, "run", "--provider", "local", "--suite", writeSuite(t, suite),
		"--out", out, "--local-state-dir", t.TempDir(), "--timeout-minutes", "10")
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
	// Live cycle is ✅ verified on a machine with KVM, n/a (no KVM) on
	// one without; the suite's steps passed either way (below).
	lane := thisHostLane()
	for i, c := range []struct{ col, want string }{{"Preflight", "✅"}, {"Live cycle", lane.liveCell}, {"Seccomp probe", "✅"}} {
		if !strings.Contains(cells[2+i], c.want) {
			t.Errorf("row %q: want %s %s (%s)", row, c.col, c.want, lane.why)
		}
	}
	if !strings.HasPrefix(row, lane.rowPrefix("local")) {
		t.Errorf("row %q: want it to start %q (%s)", row, lane.rowPrefix("local"), lane.why)
	}
	res := r.resultJSON(t)
	if res["outcome"] != "verified" {
		t.Errorf("outcome %v, want verified", res["outcome"])
	}
	// Every phase took some time, and the phases ran one after another
	// within the leg's total.
	phases, _ := res["phases"].([]any)
	if len(phases) == 0 {
		t.Errorf("result.json lists no phases")
	}
	var phaseSum float64
	for _, p := range phases {
		p, _ := p.(map[string]any)
		d, _ := p["duration_ns"].(float64)
		if d <= 0 {
			t.Errorf("phase %v took %v ns, want a duration", p["name"], p["duration_ns"])
		}
		phaseSum += d
	}
	if total, _ := res["duration_ns"].(float64); phaseSum > total {
		t.Errorf("the phases took %v ns in all, more than the leg's %v ns", phaseSum, total)
	}

	// The step ran as the suite user the run set up: its groups and
	// passwordless sudo, as the cloud-config gives them, and a home of its own.
	hello := keyValues(r.file(t, filepath.Join("logs", "01-hello.log")))
	if hello["user"] != e2eUser {
		t.Errorf("the step ran as %q, want %s", hello["user"], e2eUser)
	}
	groups := strings.Fields(hello["groups"])
	for _, g := range []string{"kvm", "sudo"} {
		if !slices.Contains(groups, g) {
			t.Errorf("the suite user's groups %q lack %s", hello["groups"], g)
		}
	}
	if hello["sudo"] != "nopasswd" {
		t.Errorf("the suite user has no passwordless sudo")
	}
	home := hello["home"]
	if !filepath.IsAbs(home) {
		t.Errorf("the step's HOME %q is not a path", home)
	}
	// The host probe ran as the suite user too: with a KVM that works here,
	// the user in group kvm can create a VM, and the leg runs the kvm lane.
	wantLane := lane.lane
	if p, _ := res["probe"].(map[string]any); p == nil || p["lane"] != wantLane {
		t.Errorf("host probe %v: want lane %s (%s)", p, wantLane, lane.why)
	}
	if res["lane"] != wantLane {
		t.Errorf("lane %v, want %s", res["lane"], wantLane)
	}
	// The job summary shows the probe's table, with the row that decided
	// the lane.
	if !strings.Contains(sum, "\n### Host probe\n\n| check | result | detail |\n") {
		t.Errorf("summary lacks the host probe table:\n%s", sum)
	}
	createVM, laneRow := "\n| KVM_CREATE_VM | ✅ ok |  |\n", "\n| lane | ✅ kvm |  |\n"
	if wantLane == "no-kvm" {
		laneRow = "\n| lane | ❌ no-kvm |  |\n"
	}
	if strings.Contains(sum, createVM) != (wantLane == "kvm") || !strings.Contains(sum, laneRow) {
		t.Errorf("summary's probe table: want KVM_CREATE_VM ok %v and the row %q (%s):\n%s",
			wantLane == "kvm", strings.TrimSpace(laneRow), lane.why, sum)
	}

	// The seccomp step ran exactly the seccomp_apply tests, all of them
	// passing, the filter really installed.
	steps := res["steps"].([]any)
	if len(steps) != 2 {
		t.Fatalf("result.json steps %v, want hello and seccomp probe", steps)
	}
	for _, st := range steps {
		if st := st.(map[string]any); st["status"] != "pass" {
			t.Errorf("step %v: status %v, want pass on either lane", st["name"], st["status"])
		}
	}
	seccomp := steps[1].(map[string]any)
	tests, _ := seccomp["tests"].(map[string]any)
	want := map[string]float64{"Binaries": 1, "Passed": float64(wantPassed), "Failed": 0, "Ignored": 0,
		"FilteredOut": 0, "ZeroTestBinaries": 0, "Skipped": 0, "Aborted": 0}
	for k, v := range want {
		if tests[k] != v {
			t.Errorf("seccomp step's libtest %s = %v, want %v (all counts: %v)", k, tests[k], v, tests)
		}
	}
	seccompLog := r.file(t, filepath.Join("logs", "02-seccomp-probe.log"))
	if !strings.Contains(seccompLog, "test denied_syscall_fails_with_eperm ... ok") {
		t.Errorf("the seccomp log does not show the EPERM test passing:\n%s", seccompLog)
	}
	if !strings.Contains(sum, fmt.Sprintf("%d passed", wantPassed)) {
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

	// Teardown undid all of it: the user, its home, its group memberships,
	// its sudoers drop-in, the sshd and what the step left running.
	if left := processesMentioning(t, daemon); len(left) > 0 {
		t.Errorf("the step's detached process survived teardown: %v", left)
	}
	if out, err := exec.Command("getent", "passwd", e2eUser).Output(); err == nil {
		t.Errorf("user %s is left after the run: %s", e2eUser, out)
	}
	for _, g := range []string{"kvm", "sudo"} {
		// name:password:gid:member,member
		out, _ := exec.Command("getent", "group", g).Output()
		if f := strings.Split(strings.TrimSpace(string(out)), ":"); len(f) == 4 && slices.Contains(strings.Split(f[3], ","), e2eUser) {
			t.Errorf("group %s still lists %s: %s", g, e2eUser, out)
		}
	}
	if home != "" {
		if _, err := os.Lstat(home); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the suite user's home %s is left (stat: %v)", home, err)
		}
	}
	created := createdOfKind(res, "sudoers")
	if len(created) != 1 || !strings.HasPrefix(created[0], "/etc/sudoers.d/mvm-verify-") {
		t.Errorf("the run recorded sudoers drop-ins %v, want one /etc/sudoers.d/mvm-verify-<leg>", created)
	}
	for _, path := range created {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("sudoers drop-in %s is left (stat: %v)", path, err)
		}
	}
	dropIns, _ := filepath.Glob("/etc/sudoers.d/*")
	for _, path := range dropIns {
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), e2eUser) {
			t.Errorf("sudoers drop-in %s still names %s", path, e2eUser)
		}
	}
	sshds := createdOfKind(res, "sshd")
	if len(sshds) != 1 {
		t.Errorf("the run recorded sshds %v, want one", sshds)
	}
	for _, id := range sshds {
		pid, ok := strings.CutPrefix(id, "pid ")
		if !ok {
			t.Errorf("sshd resource id %q is not \"pid N\"", id)
		}
		if cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline"); err == nil && strings.Contains(string(cmdline), "mvm-sshd-") {
			t.Errorf("the run's sshd (pid %s) is still running: %q", pid, cmdline)
		}
	}
	// The run's TMPDIR is root's alone (0700), so the sshd's files went to
	// /tmp, where the suite user can read its authorized keys; nothing else
	// of the run that names TMPDIR is left either.
	if left := processesMentioning(t, tmp); len(left) > 0 {
		t.Errorf("processes of the run are left: %v", left)
	}
	if t.Failed() {
		return
	}
	t.Logf("lane %v, sshd %v, sudoers %v, home %s", res["lane"], sshds, created, home)
}

// Built as on a target where the seccomp test compiles to nothing, the
// real crate's seccomp step runs no test at all: not run (—), never ✅,
// and the leg is incomplete.
func TestRunLocalSeccompCompiledOutIsNotRun(t *testing.T) {
	requireUserCargo(t)
	crate := readableCrateCopy(t)
	r := localRun(t, nonRootSuiteYAML(t, `
steps:
  - name: smoke
    run: "true"
    column: Live cycle
  - name: seccomp probe
    run: target=$(mktemp -d) && trap 'rm -rf "$target"' EXIT && cd `+crate+` && CARGO_TARGET_DIR=$target cargo test --offline --test seccomp_apply -- --show-output
    env:
      RUSTFLAGS: --cfg seccompcrate_other_target
    parse: libtest
    column: Seccomp probe
    timeout: 5m
`))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the seccomp check was not run)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	res := r.resultJSON(t)
	if res["outcome"] != "incomplete" {
		t.Errorf("outcome %v, want incomplete", res["outcome"])
	}
	st := res["steps"].([]any)[1].(map[string]any)
	tests, _ := st["tests"].(map[string]any)
	if st["status"] != "not-run" || tests["Binaries"] != 1.0 || tests["ZeroTestBinaries"] != 1.0 || tests["Passed"] != 0.0 || tests["FilteredOut"] != 0.0 {
		t.Errorf("seccomp step %v, want not-run with one binary of zero tests, none filtered out", st)
	}
	if !strings.Contains(r.file(t, filepath.Join("logs", "02-seccomp-probe.log")), "running 0 tests") {
		t.Errorf("the seccomp log does not show cargo's running 0 tests")
	}
	cells := strings.Split(rowLine(t, r.file(t, "summary.md")), "|")
	if !strings.Contains(cells[4], "—") || strings.Contains(cells[4], "✅") {
		t.Errorf("Seccomp probe cell %q, want —", cells[4])
	}
}

// requireUserCargo fails unless a user the run creates finds cargo on its
// login PATH; root's rustup under /root is out of its reach.
func requireUserCargo(t *testing.T) {
	t.Helper()
	for _, dir := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
		if fi, err := os.Stat(filepath.Join(dir, "cargo")); err == nil && fi.Mode().Perm()&0o001 != 0 {
			return
		}
	}
	t.Fatal("no cargo every user can run in /usr/local/bin, /usr/bin or /bin: install Debian's cargo (.ci/run does)")
}

// readableCrateCopy copies the seccomp crate where any user can read it:
// the suite user builds it, and the checkout may sit under a private home.
func readableCrateCopy(t *testing.T) string {
	t.Helper()
	src := seccompCrate(t)
	dst, err := os.MkdirTemp("/tmp", "mvm-verify-e2e-crate-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dst) })
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && rel == "target" {
			return filepath.SkipDir
		}
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			return os.Mkdir(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the seccomp crate: %v", err)
	}
	return dst
}

// testsInFile counts the #[test] functions in a Rust file.
func testsInFile(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(data), "#[test]")
	if n == 0 {
		t.Fatalf("%s has no #[test]", path)
	}
	return n
}

// keyValues reads the key=value lines of a step's log.
func keyValues(log string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), "="); ok && !strings.ContainsAny(k, " \t") {
			m[k] = v
		}
	}
	return m
}

// createdOfKind lists the ids of the resources of one kind result.json
// says the run created.
func createdOfKind(res map[string]any, kind string) []string {
	var ids []string
	created, _ := res["created"].([]any)
	for _, c := range created {
		if m, _ := c.(map[string]any); m != nil && m["kind"] == kind {
			id, _ := m["id"].(string)
			ids = append(ids, id)
		}
	}
	return ids
}

func TestRunLocalFailingStep(t *testing.T) {
	suite := nonRootSuiteYAML(t, `
steps:
  - name: ok step
    run: "true"
  - name: smoke
    run: echo boom >&2; exit 3
    column: Live cycle
`)
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
	testhost.RequireRoot(t)
	suite := nonRootSuite(t, `
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
	r := runBinHow(t, launch{prefix: prefix}, cmdEnv(t, env...), "run", "--provider", "local", "--suite", suite,
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
	testhost.RequireRoot(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	suite := nonRootSuite(t, `
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
	r := runBinHow(t, launch{prefix: prefix}, cmdEnv(t, env...), "run", "--provider", "local", "--suite", suite, "--out", out,
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

// Ctrl-C at a terminal is SIGINT: the same teardown as SIGTERM.
func TestSIGINTDuringSuiteCleansUp(t *testing.T) {
	signalDuringSuite(t, syscall.SIGINT, false, nil)
}

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
	sigtermDuringSuite(t, func(tmp string) { freezeLocalHost(t, tmp) })
}

// freezeLocalHost stops (SIGSTOP) every session process of the local
// provider's one sshd whose files are under tmp: the host stops answering
// while its TCP connections stay open.
func freezeLocalHost(t *testing.T, tmp string) {
	t.Helper()
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
	for _, pid := range proc.Descendants(listeners[0]) {
		// A session process that ended since the listing needs no
		// freezing.
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("SIGSTOP %d: %v", pid, err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	}
}

// sigtermDuringSuite sends SIGTERM to a local run while its step runs,
// after before (when set) has done its part to the host.
func sigtermDuringSuite(t *testing.T, before func(tmp string)) {
	signalDuringSuite(t, syscall.SIGTERM, false, before)
}

// signalDuringSuite is sigtermDuringSuite with the signal to send and,
// with closeStdout, the run's stdout pipe closed before it is sent.
func signalDuringSuite(t *testing.T, sig syscall.Signal, closeStdout bool, before func(tmp string)) {
	testhost.RequireRoot(t)
	tmp := stickyTempDir(t)
	out := filepath.Join(tmp, "out")
	// Numbers no other process uses, so a leftover step process is seen
	// whatever its command line; one detaches from sshd's process tree.
	pidN := strconv.Itoa(os.Getpid())
	detached, inStep := "7"+pidN+"1", "7"+pidN+"2"
	suite := nonRootSuite(t, `
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
	// The step, run through sudo -iu, carries the leg's marker, so the
	// check for it after the signal can see a leftover.
	leg := localSSHD(t, filepath.Join(tmp, "state"))
	if !markedProcessRuns(t, leg.Marker, "sleep "+inStep) {
		cmd.Process.Kill()
		t.Fatalf("the step's sleep %s does not carry the leg's marker %s", inStep, leg.Marker)
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
	case <-done: // how it ended is read from ProcessState below
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
			t.Errorf("processes of the run still running after %v: %v", sig, left)
		}
	}
	if left := processesWithEnv(t, leg.Marker); len(left) > 0 {
		t.Errorf("processes with the leg's marker %s still running after %v: %v", leg.Marker, sig, left)
	}
	if _, err := os.Lstat(workDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the uploaded probe binary's dir %s is left after %v (stat: %v)", workDir, sig, err)
	}
	data, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatalf("no summary after %v: %v", sig, err)
	}
	if !strings.Contains(string(data), "cancelled") {
		t.Errorf("summary does not say cancelled:\n%s", data)
	}
	if p := phaseStatus(t, filepath.Join(out, "result.json"), "teardown"); p != "pass" {
		t.Errorf("teardown phase %q, want pass", p)
	}
}

// TestRunnerCancelDuringSuiteCleansUp cancels a leg's main step in
// Actions the way GitHub's runner cancels a step (SIGINT, then SIGTERM
// 7.5 s later, then a kill: see cancelAsRunner), then runs the post step
// as the runner does, with main's state as STATE_*. Main stops its phase
// and runs its cleanups within its cancel budget, so the runner never has
// to follow up: it sends SIGINT alone and main exits by itself, having
// torn everything down — no sshd, no step process, no session of the leg,
// no uploaded probe binary. Main's job summary says cancelled; the leg's
// status and row are not left pending; and the post step's leak check
// passes with nothing left for it to delete.
func TestRunnerCancelDuringSuiteCleansUp(t *testing.T) { runnerCancelDuringSuite(t, nil) }

// With the host frozen (as in TestSIGTERMWithFrozenHostCleansUp), the
// cancelled step never reports its end and nothing can be undone over SSH:
// in Actions too the run must not wait on the host, but tear down, say
// cancelled, and leave post nothing but a passing leak check.
func TestRunnerCancelWithFrozenHostCleansUp(t *testing.T) {
	runnerCancelDuringSuite(t, func(tmp string) { freezeLocalHost(t, tmp) })
}

// runnerCancelDuringSuite is TestRunnerCancelDuringSuiteCleansUp after
// before (when set) has done its part to the host.
func runnerCancelDuringSuite(t *testing.T, before func(tmp string)) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	dir := t.TempDir()
	// Numbers no other process uses, as in signalDuringSuite; one sleep
	// detaches from sshd's process tree.
	pidN := strconv.Itoa(os.Getpid())
	detached, inStep := "7"+pidN+"6", "7"+pidN+"8"
	suite := nonRootSuite(t, `
steps:
  - name: long
    run: setsid sleep `+detached+` >/dev/null 2>&1 & sleep `+inStep+`
    column: Live cycle
`)
	summary, stateFile := emptyFile(t, "summary"), emptyFile(t, "state")
	stateDir := filepath.Join(dir, "state")
	env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, emptyFile(t, "outputs")),
		"GITHUB_STATE="+stateFile, "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_LOCAL-STATE-DIR="+stateDir, "INPUT_TIMEOUT-MINUTES=10", "TMPDIR="+stickyTempDir(t))...)
	tmp := envValue(env, "TMPDIR") // the run's sshd keeps its files here

	main := startBin(t, env)
	main.waitUntil("running its step", func() bool {
		return len(processesMentioning(t, "sleep "+inStep)) > 0 && len(processesMentioning(t, "sleep "+detached)) > 0
	}, nil)
	// Read now: the run removes its state as it tears down.
	leg := localSSHD(t, stateDir)
	workDir := legWorkDir(t, stateDir)
	if _, err := os.Stat(filepath.Join(workDir, "mvm-verify")); err != nil {
		main.kill()
		t.Fatalf("no probe binary on the host while the suite runs: %v", err)
	}
	if before != nil {
		before(tmp)
	}
	sent := main.cancelAsRunner()
	// What happened, not how long it took: had main's teardown overrun
	// its budget (7 s from the signal), the runner would have followed up
	// with SIGTERM and, in a real job, a kill that cuts the teardown short.
	if !slices.Equal(sent, []syscall.Signal{syscall.SIGINT}) {
		t.Errorf("the runner had to send %v, want SIGINT alone: main did not end by itself within the runner's grace\n%s", sent, main.out.String())
	}
	if ws, ok := main.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Errorf("main was killed by %v instead of exiting by itself", ws.Signal())
	}

	// nothingLeft checks that no part of the run is left on this machine.
	nothingLeft := func(after string) {
		t.Helper()
		if leg.running() {
			t.Errorf("the leg's sshd (pid %d) still runs after %s", leg.Pid, after)
		}
		if _, err := os.Lstat(leg.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the leg's sshd dir %s is left after %s (stat: %v)", leg.Dir, after, err)
		}
		for _, s := range []string{tmp, "sleep " + detached, "sleep " + inStep} {
			if left := processesMentioning(t, s); len(left) > 0 {
				t.Errorf("processes of the run still running after %s: %v", after, left)
			}
		}
		if left := processesWithEnv(t, leg.Marker); len(left) > 0 {
			t.Errorf("processes with the leg's marker %s still running after %s: %v", leg.Marker, after, left)
		}
		if _, err := os.Lstat(workDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the uploaded probe binary's dir %s is left after %s (stat: %v)", workDir, after, err)
		}
	}
	if code := main.cmd.ProcessState.ExitCode(); code == 0 {
		t.Errorf("main exit 0 after the runner's cancel, want non-zero\n%s", main.out.String())
	}
	// Main ended on its own: its teardown ran to the end.
	nothingLeft("main's own teardown")
	if sum := readFile(t, summary); !strings.Contains(sum, "## mvm-verify: "+thisHostLane().display("local")+" — ❌ cancelled") {
		t.Errorf("main's job summary does not say cancelled (the runner sent %v):\n%s\nmain's output:\n%s", sent, sum, main.out.String())
	}

	state := parseFileCommands(t, stateFile)
	if state["identity"] == "" {
		t.Fatalf("main saved no identity for post: %v", state)
	}
	postEnv, postFiles := runnerPostEnv(t, env, state)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	out, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	postSum := readFile(t, postFiles["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(postSum, "leak check: nothing tagged with this run is left") {
		t.Errorf("post's job summary lacks a passing leak check:\n%s\npost's output:\n%s", postSum, out)
	}
	if strings.Contains(string(out), "   deleted ") {
		t.Errorf("post deleted what main's own teardown should have:\n%s", out)
	}
	nothingLeft("post")
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st == "" || st == "pending" {
		t.Errorf("the leg's last status is %q %q, want it ended, not pending", st, desc)
	}
	if row := localRow(t, gh, thisHostLane().key("local")); strings.Contains(row, "⏳") || !strings.Contains(row, "cancelled") {
		t.Errorf("comment row %q, want the cancelled row, nothing ⏳", row)
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
	testhost.RequireRoot(t)
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
	copyBin := copyBinInto(t, home)
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

// Not root, local's sshd logs in only as the user it runs as: a suite
// for another user is refused at preflight, before anything is made.
func TestRunLocalNotRootRefusesAnotherSuiteUser(t *testing.T) {
	testhost.RequireRoot(t)
	dir := openTempDir(t, "mvr-notroot-")
	// Sticky, as /tmp is: a state dir under a directory others can write
	// without it is refused before the check this test is about.
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	suite := filepath.Join(dir, "suite.yml")
	if err := os.WriteFile(suite, []byte("user: root\nsteps:\n  - name: host\n    run: \"true\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	copyBin := copyBinInto(t, dir)
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", copyBin,
		"run", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", state)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir}
	cmd.Dir = dir
	output, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("run as nobody with suite user root: %v, want exit 2\n%s", err, output)
	}
	if !strings.Contains(string(output), `suite user "root"`) || !strings.Contains(string(output), "expected the suite's user to be nobody") {
		t.Errorf("the refusal does not name the suite user and the expected one:\n%s", output)
	}
	if entries, _ := os.ReadDir(state); len(entries) > 0 {
		t.Errorf("preflight left state behind: %v", entries)
	}
}

// A second run into the same --out replaces the first one's logs rather
// than leaving them beside its own.
func TestRunLocalReplacesEarlierLogs(t *testing.T) {
	testhost.RequireRoot(t)
	out := filepath.Join(t.TempDir(), "out")
	for _, step := range []string{"first", "second"} {
		suite := nonRootSuite(t, "steps:\n  - name: "+step+"\n    run: echo "+step+"\n    column: Live cycle\n")
		if r := runBin(t, cmdEnv(t), "run", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", t.TempDir()); r.code != 0 {
			t.Fatalf("%s run: exit %d\n%s\n%s", step, r.code, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "logs", "01-first.log")); !os.IsNotExist(err) {
		t.Errorf("the first run's step log is still there: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(out, "logs", "01-second.log")); err != nil || !strings.Contains(string(data), "second") {
		t.Errorf("the second run's step log: %q, %v", data, err)
	}
}

// A local run with the default state directory ($RUNNER_TEMP/mvm-verify-local)
// leaves nothing there: the directory the run made goes at teardown, as
// no other leg uses it. A silent step shows the heartbeat meanwhile.
func TestRunLocalLeavesNoStateDir(t *testing.T) {
	testhost.RequireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	suite := nonRootSuite(t, "steps:\n  - name: quiet\n    run: sleep 0.3\n    column: Live cycle\n")
	r := runBin(t, cmdEnv(t, "RUNNER_TEMP="+tmp, "MVM_VERIFY_POLL_INTERVAL=20ms"),
		"run", "--provider", "local", "--suite", suite, "--out", out, "--timeout-minutes", "10")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if entries, err := os.ReadDir(filepath.Join(tmp, "mvm-verify-local")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the run left its state dir %s (%v): %v", filepath.Join(tmp, "mvm-verify-local"), err, entries)
	}
	if !strings.Contains(r.stdout, "   … quiet still running (") {
		t.Errorf("no heartbeat for the silent step:\n%s", r.stdout)
	}
}

// markedProcessRuns reports whether a process whose command line is cmdline
// carries the local leg's marker in its environment. The step prints
// before it starts that process, so it is waited for (a minute at most).
func markedProcessRuns(t *testing.T, marker, cmdline string) bool {
	t.Helper()
	for range 600 {
		for _, pid := range processesWithEnv(t, marker) {
			b, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
			if err == nil && strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ") == cmdline {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
