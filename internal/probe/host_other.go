//go:build !linux

package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
)

// SeccompChildArg is the first argument that makes the binary run
// SeccompChildMain instead of its CLI.
const SeccompChildArg = "__seccomp-child"

var errNotLinux = errors.New("the host probe runs on Linux only, not " + runtime.GOOS)

func openKVM(string) KVM { return KVM{OpenError: errNotLinux.Error()} }

func openDevice(string) Device { return Device{Error: errNotLinux.Error()} }

func freeBytes(string) (uint64, error) { return 0, errNotLinux }

func uname() (string, string) { return "", "" }

// ReexecSeccompChild reports that seccomp is Linux-only.
func ReexecSeccompChild(context.Context) (bool, string, error) { return false, "", errNotLinux }

// SeccompChildMain reports that seccomp is Linux-only.
func SeccompChildMain() int {
	fmt.Fprintln(os.Stderr, errNotLinux)
	return 1
}
