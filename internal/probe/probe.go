// Package probe reports what a host can do for mvm: KVM (and which kind),
// seccomp, cgroup v2, vhost-vsock, tun, CPU, memory and disk. It runs on the
// host itself as `mvm-verify probe [--json]`; the cycle uploads the binary and
// reads the JSON back.
package probe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// KVMAPIVersion is the only KVM API version Linux has ever shipped; anything
// else means the device is not a usable KVM.
const KVMAPIVersion = 12

// Lanes: "kvm" when a VM can be created, "no-kvm" otherwise.
const (
	LaneKVM   = "kvm"
	LaneNoKVM = "no-kvm"
)

// Report is the host's capability report.
type Report struct {
	KVM        KVM     `json:"kvm"`
	CPU        CPU     `json:"cpu"`
	Seccomp    Seccomp `json:"seccomp"`
	CgroupV2   bool    `json:"cgroup_v2"`
	VhostVsock Device  `json:"vhost_vsock"`
	Tun        Device  `json:"tun"`
	Kernel     string  `json:"kernel"`
	Arch       string  `json:"arch"`
	// MemoryBytes is MemTotal.
	MemoryBytes uint64 `json:"memory_bytes"`
	// FreeDiskBytes is what an unprivileged user may still write at DiskPath.
	FreeDiskBytes uint64 `json:"free_disk_bytes"`
	DiskPath      string `json:"disk_path"`
	// Lane is LaneKVM when /dev/kvm opens read-write, speaks API 12 and
	// creates a VM; LaneNoKVM otherwise.
	Lane string `json:"lane"`
	// Problems are the findings that will make mvm steps fail or not run.
	Problems []string `json:"problems,omitempty"`
}

// KVM describes /dev/kvm and the module behind it.
type KVM struct {
	DevicePresent bool   `json:"device_present"`
	OpenRW        bool   `json:"open_rw"`
	OpenError     string `json:"open_error,omitempty"`
	APIVersion    int    `json:"api_version"`
	APIError      string `json:"api_error,omitempty"`
	CreateVM      bool   `json:"create_vm"`
	CreateVMError string `json:"create_vm_error,omitempty"`
	// Flavor is the vendor module: kvm_intel, kvm_amd, kvm_pvm or "".
	Flavor string `json:"flavor"`
	// Nested is the vendor module's nested parameter as the kernel prints it
	// (Y, N, 1, 0), "" when the module has none.
	Nested string `json:"nested"`
	// StandardGuestsBoot is "yes", "no" or "unknown": whether a stock Linux
	// guest kernel (Firecracker's, Debian's) can boot here.
	StandardGuestsBoot string `json:"standard_guests_boot"`
	Reason             string `json:"reason"`
}

// CPU is what /proc/cpuinfo says.
type CPU struct {
	VMX   bool   `json:"vmx"`
	SVM   bool   `json:"svm"`
	Model string `json:"model"`
	Count int    `json:"count"`
}

// Seccomp says whether a seccomp filter installed here is enforced.
type Seccomp struct {
	Enforced bool   `json:"enforced"`
	Detail   string `json:"detail"`
}

// Device is a character device the suite opens.
type Device struct {
	Present  bool   `json:"present"`
	Openable bool   `json:"openable"`
	Error    string `json:"error,omitempty"`
}

// Options point the probe at a tree; the zero value probes this machine.
type Options struct {
	DevDir  string // default /dev
	SysDir  string // default /sys
	ProcDir string // default /proc
	// DiskPath is where free space is measured; default /.
	DiskPath string
	// SeccompChild runs the seccomp check in a child process and reports
	// whether the filter was enforced, with a detail line; err means the check
	// could not run at all. Default: re-exec this binary with SeccompChildArg.
	SeccompChild func(ctx context.Context) (enforced bool, detail string, err error)
}

func (o Options) withDefaults() Options {
	if o.DevDir == "" {
		o.DevDir = "/dev"
	}
	if o.SysDir == "" {
		o.SysDir = "/sys"
	}
	if o.ProcDir == "" {
		o.ProcDir = "/proc"
	}
	if o.DiskPath == "" {
		o.DiskPath = "/"
	}
	if o.SeccompChild == nil {
		o.SeccompChild = ReexecSeccompChild
	}
	return o
}

// minFreeDisk is what a cold mvm build needs (10 GB and 8 GB disks ran out).
const minFreeDisk = 20 << 30

// KVMUsable says whether this machine's KVM works for the caller, as the
// probe judges it (open read-write, API version 12, a VM created), without
// the rest of the probe; why is the probe's reason when it does not, ""
// when it does.
func KVMUsable() (usable bool, why string) {
	lane, why := laneOf(openKVM("/dev/kvm"))
	return lane == LaneKVM, why
}

// laneOf decides the lane from what openKVM found: LaneKVM only when the
// device opened read-write, speaks API version 12 and created a VM;
// otherwise LaneNoKVM and why, the first of those that failed.
func laneOf(k KVM) (lane, why string) {
	switch {
	case !k.DevicePresent:
		why = "no /dev/kvm: KVM steps cannot run (no-kvm lane)"
	case !k.OpenRW:
		why = "cannot open /dev/kvm read-write: " + k.OpenError
	case k.APIError != "":
		why = "KVM_GET_API_VERSION failed: " + k.APIError
	case k.APIVersion != KVMAPIVersion:
		why = fmt.Sprintf("KVM API version %d, want %d", k.APIVersion, KVMAPIVersion)
	case !k.CreateVM:
		why = "KVM_CREATE_VM failed: " + k.CreateVMError
	default:
		return LaneKVM, ""
	}
	return LaneNoKVM, why
}

// Collect probes the host. It never fails: what it cannot find out is
// reported as such.
func Collect(ctx context.Context, o Options) Report {
	o = o.withDefaults()
	r := Report{DiskPath: o.DiskPath}

	r.CPU = readCPU(filepath.Join(o.ProcDir, "cpuinfo"))
	r.KVM = openKVM(filepath.Join(o.DevDir, "kvm"))
	r.KVM.Flavor = kvmFlavor(o.SysDir, r.CPU)
	if r.KVM.Flavor != "" {
		r.KVM.Nested = readTrimmed(filepath.Join(o.SysDir, "module", r.KVM.Flavor, "parameters", "nested"))
	}
	r.Lane, _ = laneOf(r.KVM)
	r.Kernel, r.Arch = kernelAndArch(o.ProcDir)
	r.KVM.StandardGuestsBoot, r.KVM.Reason = standardGuests(r.KVM, r.Lane, r.Arch)

	r.Seccomp = checkSeccomp(ctx, o)
	r.CgroupV2 = cgroupV2(filepath.Join(o.ProcDir, "self", "mounts"))
	r.VhostVsock = openDevice(filepath.Join(o.DevDir, "vhost-vsock"))
	r.Tun = openDevice(filepath.Join(o.DevDir, "net", "tun"))
	r.MemoryBytes = memTotal(filepath.Join(o.ProcDir, "meminfo"))
	free, err := freeBytes(o.DiskPath)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("free disk space at %s: %v", o.DiskPath, err))
	}
	r.FreeDiskBytes = free

	r.Problems = append(r.Problems, problems(r)...)
	return r
}

// kvmFlavor names the vendor module. A hardware module only counts with its
// CPU flag (kvm_intel can be built in on an AMD machine); otherwise a loaded
// kvm_pvm is what backs /dev/kvm.
func kvmFlavor(sysDir string, cpu CPU) string {
	has := func(m string) bool {
		_, err := os.Stat(filepath.Join(sysDir, "module", m))
		return err == nil
	}
	switch {
	case has("kvm_intel") && cpu.VMX:
		return "kvm_intel"
	case has("kvm_amd") && cpu.SVM:
		return "kvm_amd"
	case has("kvm_pvm"):
		return "kvm_pvm"
	case has("kvm_intel"):
		return "kvm_intel"
	case has("kvm_amd"):
		return "kvm_amd"
	}
	return ""
}

// standardGuests decides whether a stock guest kernel boots. PVM runs tiny
// real-mode guests but stock kernels hang right after decompression
// (DESIGN §4), so a working KVM API is not enough.
func standardGuests(k KVM, lane, arch string) (string, string) {
	switch {
	case lane != LaneKVM:
		return "no", "no usable /dev/kvm"
	case k.Flavor == "kvm_pvm":
		return "no", "kvm_pvm: stock guest kernels hang right after decompression; use TCG for full guests"
	case k.Flavor == "kvm_intel" || k.Flavor == "kvm_amd":
		return "yes", k.Flavor + " hardware virtualization"
	case arch == "aarch64" || arch == "arm64":
		return "yes", "arm64 KVM (built into the kernel)"
	}
	return "unknown", "KVM works but its vendor module is not one we know"
}

// KVMProblems are the findings that explain why /dev/kvm is not usable,
// and only those: the reasons a kvm-lane host fails its KVM check.
func (r Report) KVMProblems() []string {
	if _, why := laneOf(r.KVM); why != "" {
		return []string{why}
	}
	return nil
}

func problems(r Report) []string {
	p := r.KVMProblems()
	k := r.KVM
	if r.Lane == LaneKVM && k.StandardGuestsBoot == "no" {
		p = append(p, "standard guest kernels will not boot: "+k.Reason)
	}
	if !r.Seccomp.Enforced {
		p = append(p, "seccomp filter not enforced: "+r.Seccomp.Detail)
	}
	if !r.CgroupV2 {
		p = append(p, "cgroup v2 is not mounted at /sys/fs/cgroup (unified hierarchy)")
	}
	if r.Lane == LaneKVM && !r.VhostVsock.Openable {
		p = append(p, "vhost-vsock is not usable: microVM smoke tests need vsock")
	}
	if !r.Tun.Openable {
		p = append(p, "/dev/net/tun is not usable: microVMs get no network")
	}
	if r.FreeDiskBytes > 0 && r.FreeDiskBytes < minFreeDisk {
		p = append(p, fmt.Sprintf("only %s free at %s: a cold build needs about %s", humanBytes(r.FreeDiskBytes), r.DiskPath, humanBytes(minFreeDisk)))
	}
	return p
}

func checkSeccomp(ctx context.Context, o Options) Seccomp {
	enforced, detail, err := o.SeccompChild(ctx)
	if err != nil {
		return Seccomp{Detail: "could not run the check: " + err.Error()}
	}
	return Seccomp{Enforced: enforced, Detail: detail}
}

func readCPU(path string) CPU {
	var c CPU
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		key, val, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "processor":
			c.Count++
		case "model name":
			if c.Model == "" {
				c.Model = val
			}
		case "flags":
			for _, f := range strings.Fields(val) {
				c.VMX = c.VMX || f == "vmx"
				c.SVM = c.SVM || f == "svm"
			}
		}
	}
	return c
}

// cgroupV2 is true when the unified hierarchy is what /sys/fs/cgroup is; a
// hybrid host only has it at /sys/fs/cgroup/unified.
func cgroupV2(mounts string) bool {
	b, err := os.ReadFile(mounts)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "/sys/fs/cgroup" && f[2] == "cgroup2" {
			return true
		}
	}
	return false
}

func memTotal(meminfo string) uint64 {
	b, err := os.ReadFile(meminfo)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

func kernelAndArch(procDir string) (string, string) {
	release, machine := uname()
	if r := readTrimmed(filepath.Join(procDir, "sys", "kernel", "osrelease")); r != "" {
		release = r
	}
	if machine == "" {
		machine = runtime.GOARCH
	}
	return release, machine
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

func humanBytes(n uint64) string {
	const gib = 1 << 30
	if n >= gib {
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
