package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompOracleEnv set to 1 makes the test binary, re-executed, install a
// seccomp filter and report what it saw instead of running the tests (see
// TestMain). It is the tests' own seccomp check, written apart from
// internal/probe's so that it can disagree with it.
const seccompOracleEnv = "MVMV_CLI_TEST_SECCOMP_ORACLE"

// seccompEnforcedHere reports whether a process on this machine that
// installs a seccomp filter denying getppid gets EPERM from getppid: it
// runs the test binary again in the oracle mode and reads its one line.
func seccompEnforcedHere(t *testing.T) (bool, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), seccompOracleEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("seccomp oracle child: %v\n%s", err, out)
	}
	line := strings.TrimSpace(string(out))
	return line == "getppid: EPERM", line
}

// seccompOracle is the child's side: on one locked OS thread (a filter
// binds the thread that installs it and its future children), set
// no_new_privs, install a filter that fails getppid with EPERM and allows
// everything else, call getppid, and print what came back. It prints
// one line and returns the exit status; only a failure to report is
// non-zero.
func seccompOracle() int {
	runtime.LockOSThread()
	fmt.Println(seccompOracleLine())
	return 0
}

func seccompOracleLine() string {
	arch, ok := map[string]uint32{
		"amd64": unix.AUDIT_ARCH_X86_64,
		"arm64": unix.AUDIT_ARCH_AARCH64,
	}[runtime.GOARCH]
	if !ok {
		return "no filter: the oracle knows no audit arch for " + runtime.GOARCH
	}
	// struct seccomp_data: int nr at offset 0, __u32 arch at offset 4.
	const nrOff, archOff = 0, 4
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: archOff},
		// Another ABI numbers its syscalls differently: leave it alone.
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: arch, Jt: 0, Jf: 3},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: nrOff},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_GETPPID, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return "no filter: PR_SET_NO_NEW_PRIVS: " + err.Error()
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return "no filter: seccomp(SECCOMP_SET_MODE_FILTER): " + errno.Error()
	}
	runtime.KeepAlive(prog)
	if _, _, errno := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0); errno != 0 {
		if errno == unix.EPERM {
			return "getppid: EPERM"
		}
		return "getppid: " + errno.Error()
	}
	return "getppid: allowed under the filter"
}
