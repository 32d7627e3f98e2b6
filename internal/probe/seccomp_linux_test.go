package probe

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// reportSeccompStatusEnv, set for a SeccompChildArg child of the test binary,
// makes it run SeccompChildMain and then say what the kernel shows for it:
// the Seccomp lines of every thread's status and what getppid returns now.
const reportSeccompStatusEnv = "MVM_PROBE_TEST_REPORT_SECCOMP_STATUS"

// mismatchedSeccompArg makes the test binary run the self-test with a filter
// that denies getsid while the check calls getppid.
const mismatchedSeccompArg = "__probe-test-mismatched-seccomp"

// seccompChildReportingStatus is the probe's child followed by a look at
// the process the filter was installed in; the kernel, not the child's own
// words, says whether a filter is in force.
func seccompChildReportingStatus() int {
	code := SeccompChildMain()
	_, _, errno := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	fmt.Printf("after the child: getppid errno=%d\n", int(errno))
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		fmt.Println("read /proc/self/task:", err)
		return 1
	}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			fmt.Println("read task status:", err)
			return 1
		}
		fmt.Printf("task %s: Seccomp=%s Seccomp_filters=%s\n", task.Name(), statusField(string(b), "Seccomp"), statusField(string(b), "Seccomp_filters"))
	}
	return code
}

// mismatchedSeccompMain prints what the self-test said and what the syscall
// the filter does deny returns, so the test sees the filter was installed.
func mismatchedSeccompMain() int {
	err := seccompSelfTestWith(unix.SYS_GETSID, unix.SYS_GETPPID, "getppid")
	_, _, errno := unix.RawSyscall(unix.SYS_GETSID, 0, 0, 0)
	fmt.Printf("self-test: %v\ngetsid errno=%d\n", err, int(errno))
	return 0
}

// statusField is the value of a "Name:\tvalue" line of a proc status file,
// "" when there is none.
func statusField(status, name string) string {
	for _, line := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestSeccompChildInstallsFilter runs the probe's real child (re-exec of
// this binary through ReexecSeccompChild) and checks with the kernel that a
// filter is in force in it afterwards: every thread is in filter mode with
// one filter more than this process has (TSYNC), and getppid fails with
// EPERM. A child that only claimed success fails here.
func TestSeccompChildInstallsFilter(t *testing.T) {
	own, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	ownFilters := statusField(string(own), "Seccomp_filters")
	if ownFilters == "" {
		t.Fatalf("/proc/self/status has no Seccomp_filters line: this kernel (before 5.9 or without CONFIG_SECCOMP_FILTER) cannot show whether a filter is in force\n%s", own)
	}
	before, err := strconv.Atoi(ownFilters)
	if err != nil {
		t.Fatalf("Seccomp_filters %q is not a number", ownFilters)
	}

	t.Setenv(reportSeccompStatusEnv, "1")
	enforced, detail, err := ReexecSeccompChild(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("child said:\n%s", detail)
	if !enforced {
		t.Errorf("child reported the filter not enforced")
	}
	if !strings.Contains(detail, "getppid returned EPERM") {
		t.Errorf("child's detail does not say getppid returned EPERM")
	}
	if !strings.Contains(detail, fmt.Sprintf("getppid errno=%d\n", int(unix.EPERM))) {
		t.Errorf("getppid in the child after the check did not fail with EPERM (%d)", int(unix.EPERM))
	}
	tasks := regexp.MustCompile(`(?m)^task (\d+): Seccomp=(\S*) Seccomp_filters=(\S*)$`).FindAllStringSubmatch(detail, -1)
	if len(tasks) == 0 {
		t.Fatal("child reported no threads")
	}
	want := strconv.Itoa(before + 1)
	for _, m := range tasks {
		if m[2] != "2" || m[3] != want {
			t.Errorf("thread %s: Seccomp=%s Seccomp_filters=%s, want Seccomp=2 (filter mode) Seccomp_filters=%s (this process has %d)", m[1], m[2], m[3], want, before)
		}
	}
}

// TestSeccompSelfTestMissesUncoveredCall is the negative control: a filter
// that denies getsid is installed and enforced (getsid fails), but the check
// calls getppid, which succeeds, so the self-test must say not enforced.
func TestSeccompSelfTestMissesUncoveredCall(t *testing.T) {
	out, err := exec.Command(os.Args[0], mismatchedSeccompArg).CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child said:\n%s", out)
	if !strings.Contains(string(out), "self-test: getppid under the filter succeeded, want EPERM: the filter is not enforced\n") {
		t.Errorf("self-test did not report a filter that leaves getppid alone as not enforced")
	}
	if !strings.Contains(string(out), fmt.Sprintf("getsid errno=%d\n", int(unix.EPERM))) {
		t.Errorf("getsid did not fail with EPERM: the filter was not installed, so the control shows nothing")
	}
}
