package verify

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/probe"
)

// The KVM check names why KVM is unusable and nothing else: a host whose
// probe also found no cgroup v2 or no tun does not fail for those here.
func TestKVMCheckNamesOnlyKVMReasons(t *testing.T) {
	rep := probe.Report{
		Lane: probe.LaneNoKVM,
		KVM:  probe.KVM{DevicePresent: true, OpenError: "permission denied"},
		Problems: []string{
			"cannot open /dev/kvm read-write: permission denied",
			"cgroup v2 is not mounted at /sys/fs/cgroup (unified hierarchy)",
			"/dev/net/tun is not usable: microVMs get no network",
		},
	}
	err := kvmCheck(probe.LaneKVM, rep)
	if err == nil {
		t.Fatal("a host without usable KVM passed the kvm lane's KVM check")
	}
	if !strings.Contains(err.Error(), "cannot open /dev/kvm read-write: permission denied") {
		t.Errorf("KVM check %q does not say why KVM is unusable", err)
	}
	for _, unrelated := range []string{"cgroup", "tun"} {
		if strings.Contains(err.Error(), unrelated) {
			t.Errorf("KVM check %q names the unrelated %s problem", err, unrelated)
		}
	}
	if err := kvmCheck(probe.LaneNoKVM, rep); err != nil {
		t.Errorf("the no-kvm lane failed the KVM check: %v", err)
	}
}
