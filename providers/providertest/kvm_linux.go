package providertest

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The KVM ioctls, from the kernel's include/uapi/linux/kvm.h: KVMIO is
// 0xAE and both are _IO(KVMIO, nr), which is (KVMIO << 8) | nr.
const (
	kvmGetAPIVersion = 0xAE<<8 | 0x00
	kvmCreateVM      = 0xAE<<8 | 0x01
	// kvmAPIVersion is the only version the kernel has ever answered
	// since KVM's API was declared stable.
	kvmAPIVersion = 12
)

// KVMUsable is the scenarios' own answer to whether this machine has
// usable KVM for the calling user: /dev/kvm opens read-write, answers
// KVM_GET_API_VERSION with 12 and creates a VM. It is written apart from
// internal/probe, the code under test, so that the whole cycle's expected
// Live cycle cell does not come from the code that decides it: a probe
// that says no KVM on a machine that has it (or the reverse) fails the
// cycle instead of agreeing with itself. why says what decided.
func KVMUsable() (usable bool, why string) {
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Sprintf("open /dev/kvm read-write: %v", err)
	}
	defer unix.Close(fd)
	v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion)
	if err != nil {
		return false, fmt.Sprintf("KVM_GET_API_VERSION: %v", err)
	}
	if v != kvmAPIVersion {
		return false, fmt.Sprintf("KVM_GET_API_VERSION answered %d, want %d", v, kvmAPIVersion)
	}
	vm, err := unix.IoctlRetInt(fd, kvmCreateVM)
	if err != nil {
		return false, fmt.Sprintf("KVM_CREATE_VM: %v", err)
	}
	unix.Close(vm)
	return true, "/dev/kvm opens read-write, speaks API 12 and created a VM"
}
