package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SeccompChildArg is the first argument that makes the binary run
// SeccompChildMain instead of its CLI.
const SeccompChildArg = "__seccomp-child"

// auditArch is the seccomp_data.arch value for the architectures we run on.
func auditArch(goarch string) (uint32, bool) {
	switch goarch {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, true
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, true
	}
	return 0, false
}

// ReexecSeccompChild runs this executable with SeccompChildArg. The filter
// is installed in a child because it cannot be removed again.
func ReexecSeccompChild(ctx context.Context) (bool, string, error) {
	// A binary that does not route SeccompChildArg to SeccompChildMain (a
	// test binary without the TestMain hook) would run its whole program
	// again and probe again: the variable stops that at the first child.
	if os.Getenv(seccompChildEnv) != "" {
		return false, "", errors.New("seccomp child: this executable does not handle " + SeccompChildArg + " (probe called again inside the child)")
	}
	exe, err := os.Executable()
	if err != nil {
		return false, "", fmt.Errorf("find own executable: %w", err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, SeccompChildArg)
	cmd.Env = append(os.Environ(), seccompChildEnv+"=1")
	cmd.Stdout = &out
	cmd.Stderr = &out
	err = cmd.Run()
	detail := strings.TrimSpace(out.String())
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, detail, nil
	case errors.As(err, &exit):
		if detail == "" {
			detail = "seccomp child: " + exit.String()
		}
		return false, detail, nil
	}
	return false, "", fmt.Errorf("run seccomp child %s: %w", exe, err)
}

// seccompChildEnv marks the re-executed child.
const seccompChildEnv = "MVM_VERIFY_SECCOMP_CHILD"

// SeccompChildMain installs a seccomp filter that makes getppid fail with
// EPERM, calls getppid, and returns 0 only if it saw EPERM. It is meant to run
// in a child process: the filter stays on this process for good.
func SeccompChildMain() int {
	if err := seccompSelfTest(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("filter installed (no_new_privs, SECCOMP_SET_MODE_FILTER with TSYNC); getppid returned EPERM")
	return 0
}

func seccompSelfTest() error {
	return seccompSelfTestWith(unix.SYS_GETPPID, unix.SYS_GETPPID, "getppid")
}

// seccompSelfTestWith installs a filter that makes the syscall denied fail
// with EPERM, then calls the syscall called (named name) and returns nil only
// if that call failed with EPERM. The probe passes the same syscall twice;
// tests pass different ones to show a call the filter does not cover is
// reported as not enforced.
func seccompSelfTestWith(denied, called uintptr, name string) error {
	return seccompSelfTestBetween(denied, called, name, nil)
}

// seccompSelfTestBetween is seccompSelfTestWith running between (when not
// nil) after no_new_privs is set and before the filter is installed: tests
// park the goroutine there, as the runtime may, to show the two calls stay
// on one thread.
func seccompSelfTestBetween(denied, called uintptr, name string, between func()) error {
	arch, ok := auditArch(runtime.GOARCH)
	if !ok {
		return fmt.Errorf("seccomp check: architecture %s is not supported", runtime.GOARCH)
	}
	// no_new_privs is a per-thread attribute, and the kernel checks it on
	// the thread that calls seccomp: without CAP_SYS_ADMIN (a non-root
	// user) a goroutine moved to another thread between the two calls
	// gets EACCES. Keep both on one thread; the child exits after this.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if between != nil {
		between()
	}
	// Offsets into struct seccomp_data: nr at 0, arch at 4.
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: arch, Jt: 1, Jf: 0},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(denied), Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %w", errno)
	}
	if r != 0 {
		return fmt.Errorf("seccomp TSYNC: thread %d could not take the filter", r)
	}
	if _, _, errno := unix.RawSyscall(called, 0, 0, 0); errno != unix.EPERM {
		if errno == 0 {
			return fmt.Errorf("%s under the filter succeeded, want EPERM: the filter is not enforced", name)
		}
		return fmt.Errorf("%s under the filter: errno %d (%v), want EPERM: the filter is not enforced", name, errno, errno)
	}
	return nil
}
