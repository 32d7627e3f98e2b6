package probe

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// collectAsArg makes the test binary run the probe on this machine, with
// defaults as `mvm-verify probe` does, and print its euid and report.
const collectAsArg = "__probe-test-collect"

// collected is what collectAsMain prints.
type collected struct {
	Euid   int    `json:"euid"`
	Report Report `json:"report"`
}

func collectAsMain() int {
	r := Collect(context.Background(), Options{})
	if err := json.NewEncoder(os.Stdout).Encode(collected{Euid: os.Geteuid(), Report: r}); err != nil {
		return 2
	}
	return 0
}

// TestKVMReadableButNotWritable: a /dev/kvm the probe's user may read but
// not write (root:root 0644, the probe as nobody) does not count as open
// read-write and gives the no-kvm lane. The KVM ioctls need a read-write
// descriptor, so an open for reading alone must not pass. The test runs in a
// mount namespace whose /dev/kvm is its own node: this machine's is never
// touched.
func TestKVMReadableButNotWritable(t *testing.T) {
	if !testhost.InStandInKVMOwned(t, 0, 0, 0o644, "") {
		return
	}
	fi, err := os.Stat("/dev/kvm")
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o644 {
		t.Fatalf("stand-in /dev/kvm is %d:%d %04o, want 0:0 0644", st.Uid, st.Gid, fi.Mode().Perm())
	}
	bin, uid, gid := asNobody(t)

	cmd := exec.CommandContext(t.Context(), bin, collectAsArg)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe as nobody: %v\n%s", err, stderr.String())
	}
	var got collected
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("probe as nobody printed %q: %v", out, err)
	}
	if got.Euid != uid {
		t.Fatalf("the probe ran as uid %d, want nobody (%d)", got.Euid, uid)
	}
	k := got.Report.KVM
	expect(t, "device_present", k.DevicePresent, true)
	expect(t, "open_rw", k.OpenRW, false)
	if !strings.Contains(k.OpenError, "permission denied") {
		t.Errorf("open_error = %q, want the read-write open refused with permission denied", k.OpenError)
	}
	expect(t, "lane", got.Report.Lane, LaneNoKVM)
	hasProblem(t, got.Report, "cannot open /dev/kvm read-write")
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// asNobody is a copy of this test binary that the user nobody may run, in
// a directory everyone may enter (the go build directory is root's alone),
// and nobody's uid and gid. The probe re-execs the binary for its seccomp
// check too.
func asNobody(t *testing.T) (bin string, uid, gid int) {
	t.Helper()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody to run the probe as: %v", err)
	}
	uid, _ = strconv.Atoi(nobody.Uid)
	gid, _ = strconv.Atoi(nobody.Gid)
	dir, err := os.MkdirTemp("/tmp", "probe-as-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "probe.test")
	copyExecutable(t, os.Args[0], bin)
	return bin, uid, gid
}
