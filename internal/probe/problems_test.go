package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// healthyKVMReport is a kvm-lane host with nothing wrong; each case below
// breaks one thing.
func healthyKVMReport() Report {
	return Report{
		KVM: KVM{DevicePresent: true, OpenRW: true, APIVersion: KVMAPIVersion, CreateVM: true,
			Flavor: "kvm_intel", StandardGuestsBoot: "yes", Reason: "kvm_intel hardware virtualization"},
		Lane:          LaneKVM,
		Seccomp:       Seccomp{Enforced: true},
		CgroupV2:      true,
		VhostVsock:    Device{Present: true, Openable: true},
		Tun:           Device{Present: true, Openable: true},
		FreeDiskBytes: 40 << 30,
		DiskPath:      "/",
	}
}

// TestProblemsOneFindingEach pins what each finding depends on: tun must
// open, not merely exist; vsock only matters where microVMs can run (the
// no-kvm lane reports n/a for those steps, so a missing vsock there is not
// a problem); and less than 20 GiB free is too little for a cold build.
func TestProblemsOneFindingEach(t *testing.T) {
	noKVM := func(r *Report) {
		r.KVM = KVM{}
		r.Lane = LaneNoKVM
		r.KVM.StandardGuestsBoot, r.KVM.Reason = standardGuests(r.KVM, r.Lane, "x86_64")
	}
	tests := []struct {
		name  string
		spoil func(r *Report)
		want  []string // each a prefix of one problem, in order
	}{
		{"healthy", func(*Report) {}, nil},
		{"tun present but not openable", func(r *Report) {
			r.Tun = Device{Present: true, Error: "open /dev/net/tun: permission denied"}
		}, []string{"/dev/net/tun is not usable"}},
		{"tun absent", func(r *Report) { r.Tun = Device{} }, []string{"/dev/net/tun is not usable"}},
		{"vsock present but not openable", func(r *Report) {
			r.VhostVsock = Device{Present: true, Error: "open /dev/vhost-vsock: no such device"}
		}, []string{"vhost-vsock is not usable"}},
		{"vsock absent on the no-kvm lane", func(r *Report) {
			noKVM(r)
			r.VhostVsock = Device{}
		}, []string{"no /dev/kvm"}},
		{"vsock not openable on the no-kvm lane", func(r *Report) {
			noKVM(r)
			r.VhostVsock = Device{Present: true, Error: "open: no such device"}
		}, []string{"no /dev/kvm"}},
		{"15 GiB free", func(r *Report) { r.FreeDiskBytes = 15 << 30 },
			[]string{"only 15.0 GiB free at /: a cold build needs about 20.0 GiB"}},
		{"one byte under 20 GiB", func(r *Report) { r.FreeDiskBytes = 20<<30 - 1 }, []string{"only "}},
		{"exactly 20 GiB free", func(r *Report) { r.FreeDiskBytes = 20 << 30 }, nil},
		// Zero means the measurement failed; Collect reports that itself.
		{"free space unknown", func(r *Report) { r.FreeDiskBytes = 0 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := healthyKVMReport()
			tt.spoil(&r)
			got := problems(r)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d starting %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want it to start %q", i, got[i], w)
				}
			}
		})
	}
}

// TestCollectTunPresentNotOpenable: a /dev/net/tun that stats but does not
// open read-write (here a directory, which even root cannot open so) is a
// problem, not a working tun.
func TestCollectTunPresentNotOpenable(t *testing.T) {
	o := tree(t, map[string]string{"proc/self/mounts": cgroup2Mounts})
	if err := os.MkdirAll(filepath.Join(o.DevDir, "net", "tun"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Collect(context.Background(), o)
	expect(t, "tun present", r.Tun.Present, true)
	expect(t, "tun openable", r.Tun.Openable, false)
	hasProblem(t, r, "/dev/net/tun is not usable")
}

// TestKVMFlavorPrefersHardware: a host with kvm_intel and vmx is a hardware
// KVM host even when kvm_pvm is loaded too; PVM only backs /dev/kvm when
// the CPU flag for the hardware module is missing.
func TestKVMFlavorPrefersHardware(t *testing.T) {
	tests := []struct {
		name    string
		cpuinfo string
		modules []string
		want    string
	}{
		{"intel with vmx, pvm loaded too", intelCPUInfo, []string{"kvm_intel", "kvm_pvm"}, "kvm_intel"},
		{"amd with svm, pvm loaded too", amdCPUInfo, []string{"kvm_amd", "kvm_pvm"}, "kvm_amd"},
		{"intel module without vmx, pvm loaded", pvmCPUInfo, []string{"kvm_intel", "kvm_pvm"}, "kvm_pvm"},
		{"intel module without vmx, no pvm", pvmCPUInfo, []string{"kvm_intel"}, "kvm_intel"},
		{"amd module without svm, no pvm", pvmCPUInfo, []string{"kvm_amd"}, "kvm_amd"},
		{"no modules", intelCPUInfo, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"proc/cpuinfo": tt.cpuinfo}
			for _, m := range tt.modules {
				files["sys/module/"+m+"/parameters/nested"] = "Y\n"
			}
			r := Collect(context.Background(), tree(t, files))
			expect(t, "flavor", r.KVM.Flavor, tt.want)
		})
	}
}
