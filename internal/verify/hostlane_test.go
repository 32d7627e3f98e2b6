package verify

import "github.com/tinylabscom/mvm-verify/providers/providertest"

// hostLane is the lane a leg whose probe runs on this machine can pass on,
// by a KVM check of the tests' own rather than the probe under test: kvm
// where this machine has usable KVM, so machines with it run the kvm lane,
// else no-kvm, where the kvm lane fails at the probe by design. The tests
// that use it are about something else (signals, lost connections, the
// ssh provider's user), which must not depend on the machine having KVM.
func hostLane() string {
	lane, _ := providertest.Lane()
	return lane
}
