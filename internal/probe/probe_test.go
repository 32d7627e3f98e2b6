package probe

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// tree builds a fake root with dev/, sys/ and proc/ holding files (path
// relative to the root → content) and returns Options pointing at it.
func tree(t *testing.T, files map[string]string) Options {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"dev", "sys/module", "proc/self"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Options{
		DevDir:   filepath.Join(root, "dev"),
		SysDir:   filepath.Join(root, "sys"),
		ProcDir:  filepath.Join(root, "proc"),
		DiskPath: root,
		SeccompChild: func(context.Context) (bool, string, error) {
			return true, "fake child: enforced", nil
		},
	}
}

const (
	intelCPUInfo = `processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8488C
flags		: fpu vme de pse tsc msr pae vmx ept avx512f
processor	: 1
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8488C
flags		: fpu vme de pse tsc msr pae vmx ept avx512f
`
	amdCPUInfo = `processor	: 0
model name	: AMD EPYC 9R14
flags		: fpu sse2 svm npt
`
	// What this project's PVM hosts show: no vmx, no svm.
	pvmCPUInfo = `processor	: 0
model name	: AMD EPYC
flags		: fpu vme hypervisor lahf_lm avx2
processor	: 1
model name	: AMD EPYC
flags		: fpu vme hypervisor lahf_lm avx2
processor	: 2
model name	: AMD EPYC
flags		: fpu vme hypervisor lahf_lm avx2
`
	cgroup2Mounts = "sysfs /sys sysfs rw,nosuid 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec 0 0\n"
	hybridMounts  = "tmpfs /sys/fs/cgroup tmpfs ro 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
	meminfo       = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\n"
)

func TestCollectFakeTrees(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		want   func(t *testing.T, r Report)
		absent []string // problems that must not be reported
	}{
		{
			name: "intel with nested",
			files: map[string]string{
				"proc/cpuinfo":                           intelCPUInfo,
				"proc/self/mounts":                       cgroup2Mounts,
				"proc/meminfo":                           meminfo,
				"proc/sys/kernel/osrelease":              "6.8.0-1012-aws\n",
				"sys/module/kvm/parameters/halt_poll_ns": "200000\n",
				"sys/module/kvm_intel/parameters/nested": "Y\n",
			},
			want: func(t *testing.T, r Report) {
				expect(t, "flavor", r.KVM.Flavor, "kvm_intel")
				expect(t, "nested", r.KVM.Nested, "Y")
				expect(t, "cpu", r.CPU, CPU{VMX: true, Model: "Intel(R) Xeon(R) Platinum 8488C", Count: 2})
				expect(t, "cgroup v2", r.CgroupV2, true)
				expect(t, "memory", r.MemoryBytes, uint64(16384000*1024))
				expect(t, "kernel", r.Kernel, "6.8.0-1012-aws")
				// No /dev/kvm in the fake dev dir.
				expect(t, "device present", r.KVM.DevicePresent, false)
				expect(t, "lane", r.Lane, LaneNoKVM)
				expect(t, "standard guests", r.KVM.StandardGuestsBoot, "no")
				expect(t, "seccomp", r.Seccomp, Seccomp{Enforced: true, Detail: "fake child: enforced"})
				hasProblem(t, r, "no /dev/kvm")
				hasProblem(t, r, "/dev/net/tun is not usable")
			},
			absent: []string{"cgroup v2", "seccomp"},
		},
		{
			name: "amd with nested as 1",
			files: map[string]string{
				"proc/cpuinfo":                         amdCPUInfo,
				"sys/module/kvm_amd/parameters/nested": "1\n",
			},
			want: func(t *testing.T, r Report) {
				expect(t, "flavor", r.KVM.Flavor, "kvm_amd")
				expect(t, "nested", r.KVM.Nested, "1")
				expect(t, "cpu", r.CPU, CPU{SVM: true, Model: "AMD EPYC 9R14", Count: 1})
			},
		},
		{
			name: "pvm without vmx or svm",
			files: map[string]string{
				"proc/cpuinfo":                        pvmCPUInfo,
				"proc/self/mounts":                    hybridMounts,
				"sys/module/kvm/parameters/tdp_mmu":   "Y\n",
				"sys/module/kvm_pvm/parameters/force": "N\n",
			},
			want: func(t *testing.T, r Report) {
				expect(t, "flavor", r.KVM.Flavor, "kvm_pvm")
				expect(t, "nested", r.KVM.Nested, "")
				expect(t, "cpu", r.CPU, CPU{Model: "AMD EPYC", Count: 3})
				expect(t, "cgroup v2", r.CgroupV2, false)
				hasProblem(t, r, "cgroup v2 is not mounted")
			},
		},
		{
			name: "built-in kvm_intel without vmx but pvm loaded",
			files: map[string]string{
				"proc/cpuinfo":                           pvmCPUInfo,
				"sys/module/kvm_intel/parameters/nested": "N\n",
				"sys/module/kvm_pvm/parameters/force":    "N\n",
			},
			want: func(t *testing.T, r Report) {
				expect(t, "flavor", r.KVM.Flavor, "kvm_pvm")
			},
		},
		{
			name:  "no kvm modules at all",
			files: map[string]string{"proc/cpuinfo": amdCPUInfo},
			want: func(t *testing.T, r Report) {
				expect(t, "flavor", r.KVM.Flavor, "")
				expect(t, "nested", r.KVM.Nested, "")
				expect(t, "lane", r.Lane, LaneNoKVM)
			},
		},
		{
			name:  "kvm node that is not a device",
			files: map[string]string{"dev/kvm": ""},
			want: func(t *testing.T, r Report) {
				expect(t, "device present", r.KVM.DevicePresent, true)
				expect(t, "open", r.KVM.OpenRW, false)
				if !strings.Contains(r.KVM.OpenError, "not a character device") {
					t.Errorf("open error = %q, want it to say the node is not a character device", r.KVM.OpenError)
				}
				expect(t, "lane", r.Lane, LaneNoKVM)
				hasProblem(t, r, "cannot open /dev/kvm")
			},
		},
		{
			// Regular files stand in for the character devices: the probe
			// only stats and opens them read-write.
			name: "vhost-vsock and tun present",
			files: map[string]string{
				"dev/vhost-vsock":  "",
				"dev/net/tun":      "",
				"proc/self/mounts": cgroup2Mounts,
			},
			want: func(t *testing.T, r Report) {
				expect(t, "vsock", r.VhostVsock, Device{Present: true, Openable: true})
				expect(t, "tun", r.Tun, Device{Present: true, Openable: true})
			},
			absent: []string{"/dev/net/tun is not usable"},
		},
		{
			// Neighbours of the two devices are not taken for them.
			name: "only vhost-net and null, no vhost-vsock or tun",
			files: map[string]string{
				"dev/vhost-net": "",
				"dev/null":      "",
				"dev/net/tap0":  "",
			},
			want: func(t *testing.T, r Report) {
				expect(t, "vsock", r.VhostVsock, Device{})
				expect(t, "tun", r.Tun, Device{})
				hasProblem(t, r, "/dev/net/tun is not usable")
			},
		},
		{
			name:  "empty tree",
			files: nil,
			want: func(t *testing.T, r Report) {
				expect(t, "cpu", r.CPU, CPU{})
				expect(t, "memory", r.MemoryBytes, uint64(0))
				expect(t, "vsock", r.VhostVsock, Device{})
				expect(t, "tun", r.Tun, Device{})
				if r.Kernel == "" || r.Arch == "" {
					t.Errorf("kernel %q arch %q: want uname's when osrelease is missing", r.Kernel, r.Arch)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tree(t, tt.files)
			r := Collect(context.Background(), o)
			tt.want(t, r)
			for _, a := range tt.absent {
				for _, p := range r.Problems {
					if strings.Contains(p, a) {
						t.Errorf("unexpected problem %q", p)
					}
				}
			}
			if r.DiskPath != o.DiskPath || r.FreeDiskBytes == 0 {
				t.Errorf("free disk %d at %q, want a measurement of %q", r.FreeDiskBytes, r.DiskPath, o.DiskPath)
			}
		})
	}
}

func TestCollectSeccompChildOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		child      func(context.Context) (bool, string, error)
		want       Seccomp
		hasProblem bool
	}{
		{"enforced", func(context.Context) (bool, string, error) { return true, "ok", nil }, Seccomp{true, "ok"}, false},
		{"not enforced", func(context.Context) (bool, string, error) { return false, "getppid returned 0", nil }, Seccomp{false, "getppid returned 0"}, true},
		{"could not run", func(context.Context) (bool, string, error) { return false, "", errors.New("exec: no such file") },
			Seccomp{false, "could not run the check: exec: no such file"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tree(t, nil)
			o.SeccompChild = tt.child
			r := Collect(context.Background(), o)
			expect(t, "seccomp", r.Seccomp, tt.want)
			found := false
			for _, p := range r.Problems {
				found = found || strings.HasPrefix(p, "seccomp filter not enforced: "+tt.want.Detail)
			}
			expect(t, "seccomp problem reported", found, tt.hasProblem)
		})
	}
}

func TestStandardGuests(t *testing.T) {
	tests := []struct {
		flavor, lane, arch string
		want               string
	}{
		{"kvm_intel", LaneKVM, "x86_64", "yes"},
		{"kvm_amd", LaneKVM, "x86_64", "yes"},
		{"kvm_pvm", LaneKVM, "x86_64", "no"},
		{"kvm_intel", LaneNoKVM, "x86_64", "no"},
		{"", LaneKVM, "aarch64", "yes"},
		{"", LaneKVM, "x86_64", "unknown"},
	}
	for _, tt := range tests {
		got, reason := standardGuests(KVM{Flavor: tt.flavor}, tt.lane, tt.arch)
		if got != tt.want || reason == "" {
			t.Errorf("standardGuests(%s, %s, %s) = %q, %q; want %q with a reason", tt.flavor, tt.lane, tt.arch, got, reason, tt.want)
		}
	}
	if _, reason := standardGuests(KVM{Flavor: "kvm_pvm"}, LaneKVM, "x86_64"); !strings.Contains(reason, "decompression") {
		t.Errorf("PVM reason %q does not say why", reason)
	}
}

// TestLaneOf: the kvm lane needs all three of a read-write open, API
// version 12 and a created VM; each missing one gives no-kvm and says why.
func TestLaneOf(t *testing.T) {
	ok := KVM{DevicePresent: true, OpenRW: true, APIVersion: KVMAPIVersion, CreateVM: true}
	tests := []struct {
		name     string
		kvm      func(k *KVM)
		lane     string
		whyStart string
	}{
		{"all ok", func(*KVM) {}, LaneKVM, ""},
		{"API version 11", func(k *KVM) { k.APIVersion = 11 }, LaneNoKVM, "KVM API version 11, want 12"},
		{"API version query failed", func(k *KVM) { k.APIVersion, k.APIError, k.CreateVM = 0, "inappropriate ioctl for device", false },
			LaneNoKVM, "KVM_GET_API_VERSION failed: inappropriate ioctl for device"},
		{"CREATE_VM failed", func(k *KVM) { k.CreateVM, k.CreateVMError = false, "cannot allocate memory" },
			LaneNoKVM, "KVM_CREATE_VM failed: cannot allocate memory"},
		{"not open read-write", func(k *KVM) {
			k.OpenRW, k.OpenError, k.APIVersion, k.CreateVM = false, "open /dev/kvm: permission denied", 0, false
		}, LaneNoKVM, "cannot open /dev/kvm read-write: open /dev/kvm: permission denied"},
		{"no device", func(k *KVM) { *k = KVM{} }, LaneNoKVM, "no /dev/kvm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := ok
			tt.kvm(&k)
			lane, why := laneOf(k)
			expect(t, "lane", lane, tt.lane)
			if tt.whyStart == "" && why != "" {
				t.Errorf("why = %q for a usable KVM, want none", why)
			}
			if !strings.HasPrefix(why, tt.whyStart) {
				t.Errorf("why = %q, want it to start %q", why, tt.whyStart)
			}
			// The report's KVM problems say the same.
			expect(t, "KVM problems", len(Report{KVM: k}.KVMProblems()) > 0, tt.lane == LaneNoKVM)
		})
	}
}

func TestProblemsForKVMLane(t *testing.T) {
	r := Report{
		KVM: KVM{DevicePresent: true, OpenRW: true, APIVersion: 12, CreateVM: true, Flavor: "kvm_pvm",
			StandardGuestsBoot: "no", Reason: "kvm_pvm: stock guest kernels hang"},
		Lane:          LaneKVM,
		Seccomp:       Seccomp{Enforced: true},
		CgroupV2:      true,
		Tun:           Device{Present: true, Openable: true},
		FreeDiskBytes: 8 << 30,
		DiskPath:      "/",
	}
	got := problems(r)
	want := []string{
		"standard guest kernels will not boot: kvm_pvm: stock guest kernels hang",
		"vhost-vsock is not usable: microVM smoke tests need vsock",
		"only 8.0 GiB free at /: a cold build needs about 20.0 GiB",
	}
	expect(t, "problems", got, want)

	r.KVM.APIVersion = 11
	if p := problems(r); !strings.Contains(strings.Join(p, "\n"), "KVM API version 11, want 12") {
		t.Errorf("API version 11 not reported: %q", p)
	}
}

func TestReportRendering(t *testing.T) {
	r := Report{
		KVM: KVM{DevicePresent: true, OpenRW: true, APIVersion: 12, CreateVM: true, Flavor: "kvm_pvm",
			StandardGuestsBoot: "no", Reason: "kvm_pvm: stock guest kernels hang"},
		CPU:           CPU{Model: "AMD EPYC", Count: 2},
		Seccomp:       Seccomp{Detail: "getppid | returned 0\nnot EPERM"},
		VhostVsock:    Device{Present: true, Error: "open /dev/vhost-vsock: permission denied"},
		Tun:           Device{Present: true, Openable: true},
		Kernel:        "6.18.44",
		Arch:          "x86_64",
		MemoryBytes:   4 << 30,
		FreeDiskBytes: 100 << 30,
		DiskPath:      "/",
		Lane:          LaneKVM,
		Problems:      []string{"standard guest kernels will not boot"},
	}
	md := r.Markdown(matrix.Escape)
	for _, want := range []string{
		"| check | result | detail |\n|---|---|---|\n",
		"| KVM_CREATE_VM | ✅ ok |  |\n",
		"| KVM flavour | kvm_pvm | no nested parameter |\n",
		"| standard guests boot | ❌ no | kvm_pvm: stock guest kernels hang |\n",
		"| CPU virtualization flag | none | AMD EPYC, 2 CPUs |\n",
		`| seccomp filter | ❌ not enforced | getppid \| returned 0 not EPERM |` + "\n",
		"| vhost-vsock | ❌ present, cannot open | open /dev/vhost-vsock: permission denied |\n",
		"| /dev/net/tun | ✅ openable |  |\n",
		"| memory | 4.0 GiB |  |\n",
		"| lane | ✅ kvm |  |\n",
		"\n**Problems**\n\n- standard guest kernels will not boot\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	for i, line := range strings.Split(strings.TrimSpace(strings.Split(md, "\n\n")[0]), "\n") {
		if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 4 {
			t.Errorf("markdown row %d has %d cell separators, want 4: %q", i, n, line)
		}
	}

	text := r.Text()
	for _, want := range []string{"ok   KVM_CREATE_VM", "FAIL standard guests boot", "FAIL seccomp filter", "problems:\n  - standard guest kernels will not boot"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

func TestReportJSON(t *testing.T) {
	o := tree(t, map[string]string{"proc/cpuinfo": intelCPUInfo, "sys/module/kvm_intel/parameters/nested": "Y\n"})
	r := Collect(context.Background(), o)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"kvm":{`, `"device_present":false`, `"api_version":0`, `"flavor":"kvm_intel"`, `"nested":"Y"`,
		`"standard_guests_boot":"no"`, `"vmx":true`, `"cgroup_v2":false`, `"vhost_vsock":{`, `"lane":"no-kvm"`, `"free_disk_bytes":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	expect(t, "round trip", back, r)
}

func expect[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func hasProblem(t *testing.T, r Report, prefix string) {
	t.Helper()
	for _, p := range r.Problems {
		if strings.HasPrefix(p, prefix) {
			return
		}
	}
	t.Errorf("no problem starting %q in %q", prefix, r.Problems)
}

// The report is the host's word, and the host may be anyone's (the ssh
// provider's): text it returns must reach the job summary as text, not
// as a link, an image, HTML or a mention.
func TestReportMarkdownEscapesHostText(t *testing.T) {
	hostile := "[x](http://e) <img src=x> @someone ![i](u)"
	r := healthyKVMReport()
	r.Kernel = hostile
	r.Arch = hostile
	r.DiskPath = hostile
	r.Problems = []string{hostile, "# heading " + hostile}
	md := r.Markdown(matrix.Escape)
	for _, bad := range []string{"[x](", "<img", "@someone", "![i]", "http://", "\n- #"} {
		if strings.Contains(md, bad) {
			t.Errorf("markdown carries the host's %q unescaped:\n%s", bad, md)
		}
	}
	for _, want := range []string{`\[x\](http\://e) &lt;img src=x&gt; @&#8203;someone \!\[i\](u)`, "\n- \\# heading "} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks the escaped %q:\n%s", want, md)
		}
	}
}
