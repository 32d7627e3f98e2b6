package probe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// KVM ioctls (include/uapi/linux/kvm.h): _IO(KVMIO=0xAE, 0x00) and _IO(KVMIO, 0x01).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
)

// openKVM opens the KVM device read-write and asks it for its API version
// and for a VM (machine type 0), closing everything it opened.
func openKVM(path string) KVM {
	var k KVM
	fi, err := os.Stat(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			k.OpenError = err.Error()
		}
		return k
	}
	k.DevicePresent = true
	if fi.Mode()&fs.ModeCharDevice == 0 {
		k.OpenError = path + " is not a character device"
		return k
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		k.OpenError = fmt.Sprintf("open %s: %v", path, err)
		return k
	}
	defer unix.Close(fd)
	k.OpenRW = true

	v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion)
	if err != nil {
		k.APIError = err.Error()
		return k
	}
	k.APIVersion = v

	vm, err := createVM(fd)
	if err != nil {
		k.CreateVMError = err.Error()
		return k
	}
	unix.Close(vm)
	k.CreateVM = true
	return k
}

// createVM asks the KVM device kvmFd for a VM of the default machine type
// and returns the VM's descriptor, which the caller closes.
func createVM(kvmFd int) (int, error) {
	return unix.IoctlRetInt(kvmFd, kvmCreateVM)
}

// openDevice says whether path exists and opens read-write.
func openDevice(path string) Device {
	var d Device
	if _, err := os.Stat(path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.Error = err.Error()
		}
		return d
	}
	d.Present = true
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		d.Error = fmt.Sprintf("open %s: %v", path, err)
		return d
	}
	unix.Close(fd)
	d.Openable = true
	return d
}

func freeBytes(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func uname() (release, machine string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", ""
	}
	return unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])
}
