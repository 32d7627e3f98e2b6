package probe

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"golang.org/x/sys/unix"
)

// parkedSeccompArg runs the probe's seccomp check with its goroutine
// parked between setting no_new_privs and installing the filter, while
// other goroutines keep every thread busy: woken, it would run on another
// thread unless the check keeps it on its own.
const parkedSeccompArg = "__probe-test-parked-seccomp"

func parkedSeccompMain() int {
	stop := make(chan struct{})
	for range 8 {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	// In a goroutine of its own: the main goroutine tends to come back to
	// the main thread.
	done := make(chan error)
	go func() {
		done <- seccompSelfTestBetween(unix.SYS_GETPPID, unix.SYS_GETPPID, "getppid", func() {
			for range 20 {
				time.Sleep(time.Millisecond)
			}
		})
	}()
	err := <-done
	close(stop)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("getppid returned EPERM")
	return 0
}

// The seccomp check as a user without CAP_SYS_ADMIN, the common case on a
// host (the probe runs as the login user): no_new_privs is per thread, and
// the kernel checks it on the thread that installs the filter, so the check
// must not depend on which thread the Go runtime runs it on. A CI run saw
// "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): permission denied" once as a
// non-root user, before prctl and seccomp were kept on one thread. The
// child parks the check's goroutine between the two calls, in a goroutine
// of its own, with every thread kept busy, so that it would move if it
// could (run by hand as nobody without the fix, 1 run in 5 failed so; the
// runtime moves it less often under this harness, so a regression shows
// in some runs, not all).
func TestSeccompCheckAsNonRoot(t *testing.T) {
	testhost.RequireRoot(t)
	bin, uid, gid := asNobody(t)

	const runs = 30
	for i := range runs {
		cmd := exec.CommandContext(t.Context(), bin, parkedSeccompArg)
		cmd.Dir = "/"
		// Several threads, so the runtime has somewhere to move the
		// goroutine.
		cmd.Env = append(os.Environ(), "GOMAXPROCS=8")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "getppid returned EPERM") {
			t.Fatalf("run %d of %d as nobody: %v\n%s", i+1, runs, err, out)
		}
	}
}
