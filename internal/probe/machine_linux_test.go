package probe

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// prctlSeccompArg makes the test binary run the test's own seccomp check.
const prctlSeccompArg = "__probe-test-prctl-seccomp"

// The test binary doubles as the seccomp child: Collect's default re-execs
// os.Executable(), which under `go test` is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case SeccompChildArg:
			if os.Getenv(reportSeccompStatusEnv) != "" {
				os.Exit(seccompChildReportingStatus())
			}
			os.Exit(SeccompChildMain())
		case mismatchedSeccompArg:
			os.Exit(mismatchedSeccompMain())
		case prctlSeccompArg:
			os.Exit(prctlSeccompMain())
		case parkedSeccompArg:
			os.Exit(parkedSeccompMain())
		case collectAsArg:
			os.Exit(collectAsMain())
		}
	}
	os.Exit(m.Run())
}

// prctlSeccompMain is an independent seccomp check, deliberately different
// from the probe's: the older prctl(PR_SET_SECCOMP) interface, this thread
// only, uname instead of getppid, EACCES instead of EPERM.
func prctlSeccompMain() int {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return 2
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_UNAME, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return 3
	}
	var u unix.Utsname
	if err := unix.Uname(&u); !errors.Is(err, unix.EACCES) {
		return 4
	}
	return 0
}

// ownKVM opens the KVM device and asks it the same questions, without the
// probe's code.
type ownKVM struct {
	present, open, createVM bool
	api                     int
}

func probeKVMOurselves(t *testing.T) ownKVM {
	var k ownKVM
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return k
	}
	k.present = true
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Logf("our own open of /dev/kvm: %v", err)
		return k
	}
	defer f.Close()
	k.open = true
	fd := int(f.Fd())
	if v, err := unix.IoctlRetInt(fd, 0xAE00); err == nil {
		k.api = v
	}
	if vm, err := unix.IoctlRetInt(fd, 0xAE01); err == nil {
		k.createVM = true
		unix.Close(vm)
	} else {
		t.Logf("our own KVM_CREATE_VM: %v", err)
	}
	return k
}

func openableOurselves(path string) (present, openable bool) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, false
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return true, false
	}
	f.Close()
	return true, true
}

// TestCollectAgreesWithThisMachine runs the real probe here and checks every
// answer against a second, independent look at the same machine. It asserts
// agreement, not a particular outcome, so it holds on any Linux host and fails
// wherever the probe misreads one.
func TestCollectAgreesWithThisMachine(t *testing.T) {
	r := Collect(context.Background(), Options{})
	t.Logf("probe report on this machine:\n%s", r.Text())

	k := probeKVMOurselves(t)
	expect(t, "KVM device present", r.KVM.DevicePresent, k.present)
	expect(t, "KVM open read-write", r.KVM.OpenRW, k.open)
	expect(t, "KVM API version", r.KVM.APIVersion, k.api)
	expect(t, "KVM_CREATE_VM", r.KVM.CreateVM, k.createVM)
	wantLane := LaneNoKVM
	if k.open && k.api == 12 && k.createVM {
		wantLane = LaneKVM
	}
	expect(t, "lane", r.Lane, wantLane)

	if r.KVM.Flavor != "" {
		if _, err := os.Stat(filepath.Join("/sys/module", r.KVM.Flavor)); err != nil {
			t.Errorf("flavor %s, but /sys/module has no such module: %v", r.KVM.Flavor, err)
		}
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	vmx := strings.Contains(string(cpuinfo), " vmx")
	svm := strings.Contains(string(cpuinfo), " svm")
	expect(t, "vmx", r.CPU.VMX, vmx)
	expect(t, "svm", r.CPU.SVM, svm)
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil && !vmx && !svm {
		expect(t, "flavor on a PVM host", r.KVM.Flavor, "kvm_pvm")
		if r.Lane == LaneKVM {
			expect(t, "standard guests boot on PVM", r.KVM.StandardGuestsBoot, "no")
		}
	}
	// The nested parameter belongs to the hardware module whose CPU flag
	// this machine has; without one (PVM, no KVM) there is none to report.
	ownNested := ""
	for _, m := range []struct {
		flag   bool
		module string
	}{{vmx, "kvm_intel"}, {svm, "kvm_amd"}} {
		if !m.flag {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/sys/module", m.module, "parameters", "nested")); err == nil {
			ownNested = strings.TrimSpace(string(b))
		}
	}
	expect(t, "nested", r.KVM.Nested, ownNested)
	if r.CPU.Count < runtime.NumCPU() {
		t.Errorf("CPU count %d, but this process may run on %d", r.CPU.Count, runtime.NumCPU())
	}

	ownSeccomp := exec.Command(os.Args[0], prctlSeccompArg).Run() == nil
	expect(t, "seccomp enforced", r.Seccomp.Enforced, ownSeccomp)
	if r.Seccomp.Detail == "" {
		t.Error("seccomp detail is empty")
	}

	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatal(err)
	}
	expect(t, "cgroup v2", r.CgroupV2, st.Type == unix.CGROUP2_SUPER_MAGIC)

	for _, d := range []struct {
		name string
		got  Device
		path string
	}{{"vhost-vsock", r.VhostVsock, "/dev/vhost-vsock"}, {"tun", r.Tun, "/dev/net/tun"}} {
		present, openable := openableOurselves(d.path)
		expect(t, d.name+" present", d.got.Present, present)
		expect(t, d.name+" openable", d.got.Openable, openable)
	}

	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	expect(t, "kernel", r.Kernel, unix.ByteSliceToString(u.Release[:]))
	expect(t, "arch", r.Arch, unix.ByteSliceToString(u.Machine[:]))

	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	expect(t, "memory", r.MemoryBytes, uint64(si.Totalram)*uint64(si.Unit))

	if err := unix.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	// Other processes write to the disk meanwhile: agree within 1 GiB.
	own := st.Bavail * uint64(st.Bsize)
	if diff := int64(own) - int64(r.FreeDiskBytes); diff > 1<<30 || diff < -(1<<30) {
		t.Errorf("free disk %d, we measure %d", r.FreeDiskBytes, own)
	}
}

// TestReexecSeccompChildReportsFailure: a child that never ran must not count
// as an enforced filter.
func TestReexecSeccompChildReportsFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	enforced, _, err := ReexecSeccompChild(ctx)
	if enforced {
		t.Error("a child that never ran reported an enforced filter")
	}
	if err == nil {
		t.Error("no error for a child that could not start")
	}
}

// TestCreateVMReturnsAVM: the descriptor the probe's KVM_CREATE_VM returns
// is a VM (the kernel names it anon_inode:kvm-vm), so a wrong ioctl number
// that merely succeeds, such as KVM_GET_API_VERSION's, is caught. That
// needs a /dev/kvm that opens read-write here, by our own open; where
// KVM_CREATE_VM fails on it, the probe's must fail with the same errno.
// Where there is no such device (a machine without hardware virtualization
// or nested KVM, or a PVM guest, which cannot bind KVM again) the probe's
// answer must be no-kvm for the reason our own open gives, and the
// descriptor cannot be checked: the test says so and skips.
func TestCreateVMReturnsAVM(t *testing.T) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		lane, why := laneOf(openKVM("/dev/kvm"))
		expect(t, "lane without a /dev/kvm that opens read-write", lane, LaneNoKVM)
		if want := noOpenReason(err); !strings.Contains(why, want) {
			t.Errorf("the probe says no KVM because %q; our own open of /dev/kvm failed with %v, so want a reason containing %q", why, err, want)
		}
		t.Skipf("KVM_CREATE_VM's descriptor can only be checked with a /dev/kvm that opens read-write, and here it does not: %v (the probe: %s)", err, why)
	}
	defer f.Close()
	_, ownErr := unix.IoctlRetInt(int(f.Fd()), 0xAE01)
	vm, err := createVM(int(f.Fd()))
	if ownErr != nil {
		// Our own KVM_CREATE_VM failed: the probe's must too, alike.
		if err == nil {
			unix.Close(vm)
			t.Fatalf("the probe's KVM_CREATE_VM returned %d where ours failed: %v", vm, ownErr)
		}
		if !errors.Is(err, ownErr) {
			t.Errorf("the probe's KVM_CREATE_VM failed with %v, ours with %v", err, ownErr)
		}
		t.Skipf("KVM_CREATE_VM fails on this machine's /dev/kvm (%v), as the probe's does: no VM descriptor to check", ownErr)
	}
	if err != nil {
		t.Fatalf("KVM_CREATE_VM on /dev/kvm: %v, where ours created a VM", err)
	}
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(vm))
	if err != nil || link != "anon_inode:kvm-vm" {
		// Not ours to close: it may be any descriptor of this process.
		t.Fatalf("KVM_CREATE_VM returned %d, which is %q (%v), want a new descriptor of anon_inode:kvm-vm", vm, link, err)
	}
	unix.Close(vm)
}

// noOpenReason is what the probe's no-kvm reason must say when our own
// read-write open of /dev/kvm failed with err: that there is no /dev/kvm
// when it does not exist, else the open's own error.
func noOpenReason(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "no /dev/kvm"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
